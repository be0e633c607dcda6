// Client-side routes under /console/: history.pushState and a listener list.

import { useEffect, useState } from 'preact/hooks';
import { client } from './client';

export const BASE = '/console/';

export function currentPath(): string {
  const p = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
  return p.replace(/\/+$/, '');
}

let routeListeners: (() => void)[] = [];
export function navigate(path: string): void {
  if (currentPath() === path) return;
  history.pushState(null, '', BASE + path);
  for (const fn of routeListeners) fn();
}
window.addEventListener('popstate', () => routeListeners.forEach((fn) => fn()));
client.onNavigate = navigate;

export function useRoute(): string {
  const [p, setP] = useState(currentPath());
  useEffect(() => {
    const fn = () => setP(currentPath());
    routeListeners.push(fn);
    return () => {
      routeListeners = routeListeners.filter((f) => f !== fn);
    };
  }, []);
  return p;
}

// linkProps makes an <a> navigate inside the console (a plain click) while
// keeping a real href (open in a new tab, copy the link).
export function linkProps(path: string): { href: string; onClick: (e: MouseEvent) => void } {
  return {
    href: BASE + path,
    onClick: (e: MouseEvent) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
      e.preventDefault();
      navigate(path);
    },
  };
}
