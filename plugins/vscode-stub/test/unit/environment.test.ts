import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LaunchLike } from "../../src/discovery";
import { execCommand, mergeEnvironment } from '../../src/environment';

const session = {
  LD_PRELOAD: '/opt/lanes/liblanes-layer.so',
  LANES_LAYER_SOCKET: '/run/lanes/layer.sock',
  LANES_SESSION_ID: 's1',
  PORT: '8080', // the pod's
  LEDGER_URL: 'http://ledger:8080/',
};

test('env object: lanes variables win, the pod only fills in, the layer preloads first', () => {
  const merged = mergeEnvironment({ type: 'debugpy', request: 'launch', env: { PORT: '9080', LD_PRELOAD: 'libmine.so', LANES_SESSION_ID: 'old' } }, session);
  assert.deepEqual(merged.env, {
    PORT: '9080',
    LD_PRELOAD: '/opt/lanes/liblanes-layer.so:libmine.so',
    LANES_SESSION_ID: 's1',
    LANES_LAYER_SOCKET: '/run/lanes/layer.sock',
    LEDGER_URL: 'http://ledger:8080/',
  });
  assert.equal(merged.type, 'debugpy');
});

test('a launch without env gets one; the original is not changed', () => {
  const launch: LaunchLike = { type: 'node', request: 'launch' };
  const merged = mergeEnvironment(launch, session);
  assert.equal(merged.env?.PORT, '8080');
  assert.equal((launch as { env?: unknown }).env, undefined);
});

test('what the debuggee inherits from the editor is kept too; the layer preloads before it', () => {
  const merged = mergeEnvironment({ type: 'node', request: 'launch' } as LaunchLike, { ...session, PATH: '/pod/bin', HOME: '/root' }, { PATH: '/usr/bin', HOME: '/home/alice', LD_PRELOAD: 'libinherited.so' });
  assert.equal(merged.env?.PATH, undefined, 'the pod PATH would replace the editor one');
  assert.equal(merged.env?.HOME, undefined);
  assert.equal(merged.env?.LEDGER_URL, 'http://ledger:8080/');
  assert.equal(merged.env?.LD_PRELOAD, '/opt/lanes/liblanes-layer.so:libinherited.so');
  const cpp = mergeEnvironment({ type: 'cppdbg', request: 'launch' } as LaunchLike, session, { PORT: '1' });
  assert.deepEqual((cpp.environment ?? []).map((e) => e.name).sort(), ['LANES_LAYER_SOCKET', 'LANES_SESSION_ID', 'LD_PRELOAD', 'LEDGER_URL']);
});

test('cppdbg: the environment array, merged the same way', () => {
  const merged = mergeEnvironment({ type: 'cppdbg', request: 'launch', environment: [{ name: 'PORT', value: '9080' }, { name: 'LD_PRELOAD', value: 'libasan.so' }] } as LaunchLike, session);
  assert.equal(merged.env, undefined);
  const byName = Object.fromEntries((merged.environment ?? []).map((e) => [e.name, e.value]));
  assert.equal(byName.PORT, '9080');
  assert.equal(byName.LD_PRELOAD, '/opt/lanes/liblanes-layer.so:libasan.so');
  assert.equal(byName.LANES_LAYER_SOCKET, '/run/lanes/layer.sock');
  assert.equal(byName.LEDGER_URL, 'http://ledger:8080/');
  const fresh = mergeEnvironment({ type: 'cppdbg', request: 'launch' } as LaunchLike, { LANES_SESSION_ID: 's2' });
  assert.deepEqual(fresh.environment, [{ name: 'LANES_SESSION_ID', value: 's2' }]);
});

test('the equivalent lanes exec command quotes what the shell would split', () => {
  assert.equal(execCommand({ config: '.lanes/lanes.json', target: 'deploy/api', program: ['python3', 'api.py'] }), 'lanes exec -f .lanes/lanes.json -t deploy/api -- python3 api.py');
  assert.equal(execCommand({ program: ['sh', '-c', "echo it's"] }), `lanes exec -- sh -c 'echo it'\\''s'`);
});
