import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseConfig, isActive, isConfigCandidate, isHookable, launchVariable } from '../../src/discovery';

test('LANES_ACTIVE decides per launch, then MIRRORD_ACTIVE, then the toggle', () => {
  assert.equal(isActive({ env: { LANES_ACTIVE: '1' } }, false), true);
  assert.equal(isActive({ env: { LANES_ACTIVE: '0' } }, true), false);
  assert.equal(isActive({ env: { MIRRORD_ACTIVE: '1' } }, false), true);
  assert.equal(isActive({ env: { MIRRORD_ACTIVE: '0' } }, true), false);
  assert.equal(isActive({ env: { LANES_ACTIVE: '1', MIRRORD_ACTIVE: '0' } }, false), true);
  assert.equal(isActive({}, true), true);
  assert.equal(isActive({}, false), false);
  assert.equal(isActive({ env: { LANES_ACTIVE: '' } }, true), true);
  // cppdbg's environment array counts too
  assert.equal(isActive({ type: 'cppdbg', environment: [{ name: 'LANES_ACTIVE', value: '1' }] }, false), true);
});

test('attach requests and child sessions are left alone', () => {
  assert.equal(isHookable({ request: 'launch' }, false), true);
  assert.equal(isHookable({ request: 'attach' }, false), false);
  assert.equal(isHookable({ request: 'launch' }, true), false);
});

test('the launch names its config first, then the picked one, then the workspace', () => {
  const files = ['.mirrord/mirrord.json', '.lanes/b.json', '.lanes/a.json', '.lanes/notes.txt', 'src/x.json'];
  assert.deepEqual(chooseConfig({ env: { LANES_CONFIG: 'mine.json' } }, 'picked.json', files), { path: 'mine.json', source: 'launch', others: [] });
  assert.deepEqual(chooseConfig({ env: { MIRRORD_CONFIG_FILE: 'm.json' } }, 'picked.json', files), { path: 'm.json', source: 'launch', others: [] });
  assert.deepEqual(chooseConfig({ env: { LANES_CONFIG: 'l.json', MIRRORD_CONFIG_FILE: 'm.json' } }, undefined, files).path, 'l.json');
  assert.deepEqual(chooseConfig({}, 'picked.json', files), { path: 'picked.json', source: 'picked', others: [] });
  assert.deepEqual(chooseConfig({}, undefined, files), { path: '.lanes/a.json', source: 'workspace', others: ['.lanes/b.json', '.mirrord/mirrord.json'] });
  assert.deepEqual(chooseConfig({}, undefined, ['.mirrord/other.json', 'x']), { source: 'none', others: [] });
  assert.equal(chooseConfig({ type: 'cppdbg', environment: [{ name: 'LANES_CONFIG', value: 'c.json' }] }, undefined, files).path, 'c.json');
});

test('config candidates are .lanes/*.json and .mirrord/*mirrord.json', () => {
  assert.ok(isConfigCandidate('.lanes/lanes.json'));
  assert.ok(isConfigCandidate('.mirrord/mirrord.json'));
  assert.ok(isConfigCandidate('.mirrord/api.mirrord.json'));
  assert.ok(!isConfigCandidate('.mirrord/settings.json'));
  assert.ok(!isConfigCandidate('lanes.json'));
  assert.equal(launchVariable({ env: { A: 'x' } }, 'A'), 'x');
  assert.equal(launchVariable({ env: { A: null } }, 'A'), undefined);
});
