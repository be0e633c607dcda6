// REST client: JSON in and out, the CSRF token on every mutating call,
// problem+json errors turned into ApiError with the stable code.

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string) {
    super(message);
  }
}

let csrf = '';
export const setCSRF = (t: string): void => {
  csrf = t;
};

let onUnauthenticated: () => void = () => {};
export const setUnauthenticatedHandler = (fn: () => void): void => {
  onUnauthenticated = fn;
};

export async function api<T>(method: string, path: string, body?: unknown, opts: { quiet401?: boolean } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res: Response;
  try {
    res = await fetch('/api/v1' + path, { method, headers, body: payload, credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection.');
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const p = (data ?? {}) as { code?: string; title?: string };
    if (res.status === 401 && !opts.quiet401) onUnauthenticated();
    throw new ApiError(res.status, p.code ?? 'http_' + res.status, p.title ?? `Request failed (${res.status})`);
  }
  return data as T;
}

export const q = (params: Record<string, string | number | undefined>): string => {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') u.set(k, String(v));
  const s = u.toString();
  return s ? '?' + s : '';
};
