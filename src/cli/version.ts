/** This package's own version, from its package.json (never npm_package_version: that is whichever package runs npm). */
import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    return String((JSON.parse(text) as { version?: unknown }).version ?? 'unknown');
  } catch {
    return 'unknown';
  }
}
