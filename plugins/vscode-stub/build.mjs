// Bundles the extension (dist/extension.js) and the tests (out/test/**.js) with esbuild. `vscode` stays
// external: the editor provides it, and the tests give a fake of it (test/ext/fakevscode.ts).
import { build } from 'esbuild';
import { readdirSync } from 'fs';

const common = { bundle: true, platform: 'node', target: 'node18', format: 'cjs', external: ['vscode'], sourcemap: true, logLevel: 'warning' };
await build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' });
const tests = [];
for (const dir of ['test/unit', 'test/ext'])
  for (const f of readdirSync(dir)) if (f.endsWith('.test.ts') || f === 'run.ts') tests.push(`${dir}/${f}`);
await build({ ...common, entryPoints: tests, outdir: 'out/test', outbase: 'test' });
await build({ ...common, entryPoints: ['itest/extension.itest.ts'], outdir: 'out/itest', outbase: 'itest' });
