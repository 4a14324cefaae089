// Bundles the CLI and server into dist/ with esbuild. One bundle (split into lazily loaded chunks)
// starts in a fraction of the time Node needs to resolve and load hundreds of package files.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/murm.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Chunks sit beside murm.js so `../package.json` resolves to the repository's package.json.
  chunkNames: '[name]-[hash]',
  // Native addon (and pg's optional native binding) stay real packages.
  external: ['better-sqlite3', 'pg-native'],
  // Bundled CommonJS packages call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as murmCreateRequire } from 'node:module'; const require = murmCreateRequire(import.meta.url);" },
  // Every start parses and keeps the loaded chunks' source text: without whitespace and with simpler
  // syntax it is ~35% smaller, which is ~4.5 MB less RSS for an idle site controller. Names are kept so
  // stack traces stay readable; the linked source maps give `node --enable-source-maps` original lines.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});
