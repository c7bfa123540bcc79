// package.json's contributions against what the extension does: every contributed command is registered,
// every contributed setting is read, and the debug provider covers every debugger type.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import * as fake from './fakevscode';

fake.install(fake);

test('every contributed command is registered and every setting is read', async () => {
  const root = path.resolve(__dirname, '../../..');
  const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  fake.recorded.settings.set('lanes.socket', '/nonexistent/lanes-test.sock');
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const extension = require(path.join(root, 'dist/extension.js'));
  const ctx = fake.context();
  extension.activate(ctx);
  const contributed = manifest.contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual([...fake.recorded.commands.keys()].filter((c) => c.startsWith('lanes.')).sort(), contributed);
  const settings = Object.keys(manifest.contributes.configuration.properties).sort();
  assert.deepEqual([...fake.recorded.settingsRead].filter((s) => s.startsWith('lanes.')).sort(), settings);
  assert.deepEqual(fake.recorded.providers.map((p) => p.type), ['*']);
  assert.ok(fake.recorded.treeProviders.has('lanes.sessions'));
  assert.deepEqual(manifest.contributes.views.debug.map((v: { id: string }) => v.id), ['lanes.sessions']);
  assert.equal(fake.recorded.statusBar.text, 'lanes: off');
  await fake.commands.executeCommand('lanes.toggle');
  assert.equal(fake.recorded.statusBar.text, 'lanes: on');
  // Quiet: nothing popped up.
  assert.deepEqual(fake.recorded.shown, []);
  for (const d of ctx.subscriptions) d.dispose();
});
