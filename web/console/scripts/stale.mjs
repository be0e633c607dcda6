// Fails when the committed dist/ differs from the fresh build (run after
// `vite build`). Untracked files in dist/ count as differences once dist/ is
// tracked at all.
import { execFileSync } from 'node:child_process';

const git = (...args) => execFileSync('git', args, { encoding: 'utf8' });
const tracked = git('ls-files', '--', 'dist').trim();
if (!tracked) {
  console.warn('dist/ is not committed yet: commit it (the build is stale until then)');
  process.exit(process.env.CI ? 1 : 0);
}
try {
  execFileSync('git', ['diff', '--exit-code', '--stat', '--', 'dist'], { stdio: 'inherit' });
} catch {
  console.error('dist/ is stale: run `npm run build` in web/console and commit dist/');
  process.exit(1);
}
const untracked = git('ls-files', '--others', '--exclude-standard', '--', 'dist').trim();
if (untracked) {
  console.error('dist/ has files that are not committed:\n' + untracked);
  process.exit(1);
}
console.log('dist/ is up to date');
