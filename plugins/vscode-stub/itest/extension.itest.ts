// The extension, loaded with the fake `vscode` module, against a real lanesd that it starts itself and a
// real local cluster (tests/integration/tst_vscode.cpp starts the cluster and runs this). What a developer
// would check: a filtered launch steals their requests and not the others'; ending the debug session ends
// the lanes session; Restart keeps one session; a locked port aborts the launch and says who holds it; a
// killed lanesd is reported once and the next launch starts a new one.
import assert from 'node:assert/strict';
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as fake from '../test/ext/fakevscode';

fake.install(fake);

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/integration/tst_vscode.cpp sets it)`);
  return value;
};
const bin = env('LANES_BIN');
const source = env('LANES_SOURCE');
const work = env('LANES_WORK');
const alice = env('ALICE_CREDENTIALS');
const bob = env('BOB_CREDENTIALS');
const fixtureSocket = env('FIXTURE_SOCKET');
const api = path.join(source, 'examples/shop/api.py');

const folder = { uri: fake.Uri.file(path.join(work, 'workspace')), name: 'workspace', index: 0 };
const started: cp.ChildProcess[] = [];
let ext: any;
let ctx: any;
let debugIds = 0;

interface Debuggee {
  session: { id: string; name: string; configuration: any };
  child: cp.ChildProcess;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** curl from the cluster's client pod; the body, or '' on failure. */
function curl(url: string, header?: string): string {
  const args = ['netns', 'exec', 'lanes-client-0', 'curl', '-s', '-m', '2'];
  if (header) args.push('-H', header);
  const r = cp.spawnSync('ip', [...args, url], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : '';
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

function apiLaunch(name: string, flavour: string, port: number, extraEnv: Record<string, string> = {}) {
  return {
    type: 'debugpy',
    request: 'launch',
    name,
    program: api,
    env: { PORT: String(port), HOST: '127.0.0.1', API_FLAVOUR: flavour, LANES_ACTIVE: '1', ...extraEnv },
  };
}

/** What the editor does for a launch: resolve it through the provider, start the debuggee, tell the extension. */
async function launch(config: any): Promise<Debuggee | undefined> {
  const provider = fake.recorded.providers[0].provider;
  const resolved = await provider.resolveDebugConfigurationWithSubstitutedVariables(folder, config, new fake.CancellationTokenSource().token);
  remember(ext.daemon.spawnedPid, 'lanesd');
  if (!resolved) return undefined;
  const child = track(cp.spawn('python3', [resolved.program], { env: { ...process.env, ...resolved.env }, stdio: 'ignore' }), 'python3');
  const session = { id: `debug-${++debugIds}`, name: config.name, configuration: resolved };
  fake.debugEvents.started.fire(session);
  return { session, child };
}

async function endDebug(d: Debuggee): Promise<void> {
  await stopChild(d.child);
  fake.debugEvents.terminated.fire(d.session);
}

/**
 * Every process this test started, or the extension did (its lanesd), as "PID NAME" lines for tst_vscode's
 * cleanup when this process cannot do it; a line goes once its process is reaped, so no PID is reused.
 */
const pidFile = () => path.join(work, 'pids');
function remember(pid: number | undefined, name: string): void {
  if (!pid) return;
  const known = fs.existsSync(pidFile()) ? fs.readFileSync(pidFile(), 'utf8').split('\n') : [];
  if (!known.includes(`${pid} ${name}`)) fs.appendFileSync(pidFile(), `${pid} ${name}\n`);
}
function forget(pid: number | undefined): void {
  if (!pid || !fs.existsSync(pidFile())) return;
  const left = fs.readFileSync(pidFile(), 'utf8').split('\n').filter((l) => l && !l.startsWith(`${pid} `));
  fs.writeFileSync(pidFile(), left.map((l) => `${l}\n`).join(''));
}
function track(child: cp.ChildProcess, name: string): cp.ChildProcess {
  started.push(child);
  remember(child.pid, name);
  child.once('exit', () => forget(child.pid));
  return child;
}
const running = (child: cp.ChildProcess) => child.exitCode === null && child.signalCode === null;
async function stopChild(child: cp.ChildProcess): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

function ownSessions(): Promise<Array<{ sessionId: string; target: string; state: string }>> {
  return ext.daemon.call('session/list', {}).then((r: any) => r.sessions);
}

// The local ports of the two configs: port 8080 of the pods is stolen once the debuggee listens on them.
let alicePort = 0;
let wholePort = 0;

before(async () => {
  alicePort = await freePort();
  wholePort = await freePort();
  fs.mkdirSync(path.join(folder.uri.fsPath, '.lanes'), { recursive: true });
  fs.writeFileSync(
    path.join(folder.uri.fsPath, '.lanes/lanes.json'),
    JSON.stringify({ target: { path: 'deploy/api' }, feature: { network: { incoming: { mode: 'steal', ports: [8080], port_mapping: [[alicePort, 8080]], http_filter: { header_filter: 'x-lane: alice' } } } } }),
  );
  fs.writeFileSync(path.join(folder.uri.fsPath, 'whole.json'), JSON.stringify({ target: { path: 'deploy/api' }, feature: { network: { incoming: { mode: 'steal', ports: [8080], port_mapping: [[wholePort, 8080]] } } } }));
  fake.workspace.workspaceFolders = [folder];
  fake.recorded.settings.set('lanes.socket', path.join(work, 'ext', 'lanesd.sock'));
  fake.recorded.settings.set('lanes.lanesdPath', path.join(bin, 'lanesd'));
  fake.recorded.settings.set('lanes.credentialsFile', alice);
  fake.recorded.settings.set('lanes.stopGraceSeconds', 1);
  ext = require(path.join(__dirname, '../../dist/extension.js'));
  ctx = fake.context();
  ext = ext.activate(ctx);
});

after(() => {
  for (const d of ctx?.subscriptions ?? []) d.dispose();
  for (const child of started) if (running(child)) child.kill('SIGKILL');
  const pid = ext?.daemon?.spawnedPid;
  if (pid) try { process.kill(pid, 'SIGTERM'); } catch { /* it ended */ }
});

test('a filtered launch steals alice\'s requests into the debuggee and not bob\'s', { timeout: 90000 }, async () => {
  const port = alicePort;
  const d = await launch(apiLaunch('api', 'local-alice', port, { LANES_CONFIG: '' }));
  assert.ok(d, `the launch was refused: ${JSON.stringify(fake.recorded.shown)}`);
  assert.match(d.session.configuration.env.LD_PRELOAD, /liblanes-layer\.so/);
  assert.equal(d.session.configuration.env.PORT, String(port), 'the launch keeps its own PORT');
  assert.ok(d.session.configuration.env.LANES_SESSION_ID);
  await waitFor('api-0 to answer alice from her debuggee', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api local-alice'));
  assert.match(curl('http://api-0:8080/', 'x-lane: bob'), /api deployed/);
  assert.match(curl('http://api-1:8080/'), /api deployed/);
  assert.equal(fake.recorded.statusBar.text, 'lanes: deploy/api');
  assert.ok(fake.recorded.progressMessages.length > 0, 'the start reported its progress');
  const own = await ownSessions();
  assert.equal(own.length, 1);
  // The view shows it, under this editor and in the cluster.
  await ext.view.refresh();
  const groups = ext.view.getChildren();
  assert.equal(ext.view.getChildren(groups[0])[0].sessionId, own[0].sessionId);
  assert.ok(ext.view.getChildren(groups[1]).some((n: any) => n.session?.id === own[0].sessionId));

  // Stopping the debug session ends the lanes session after the grace period.
  await endDebug(d);
  await waitFor('the session to end after its debug session', async () => (await ownSessions()).length === 0, 10000);
  await waitFor('api-0 to answer alice from the deployed api again', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api deployed'), 10000);
  assert.equal(fake.recorded.statusBar.text, 'lanes: off');
});

test('Restart keeps one session', { timeout: 90000 }, async () => {
  const port = alicePort;
  const first = await launch(apiLaunch('api', 'local-alice', port));
  assert.ok(first);
  const id = first.session.configuration.__lanesSessionId;
  await waitFor('the first run to steal', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api local-alice'));
  // Restart: the debug session ends and the same launch resolves again at once.
  await endDebug(first);
  const second = await launch(apiLaunch('api', 'local-alice', port));
  assert.ok(second);
  assert.equal(second.session.configuration.__lanesSessionId, id);
  await new Promise((r) => setTimeout(r, 2000)); // past the grace period: the session must still be there
  assert.deepEqual((await ownSessions()).map((s) => s.sessionId), [id]);
  await waitFor('the restarted debuggee to answer alice', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api local-alice'));
  await endDebug(second);
  await waitFor('the session to end', async () => (await ownSessions()).length === 0, 10000);
});

test('a locked port aborts the launch, says who holds it and offers the fix', { timeout: 90000 }, async () => {
  const bobPort = await freePort();
  const holder = track(cp.spawn(path.join(bin, 'lanes'), ['--socket', fixtureSocket, '--credentials', bob, 'exec', '-t', 'deploy/api', '--steal', `8080:${bobPort}`, '--', 'python3', api], {
    env: { ...process.env, PORT: String(bobPort), HOST: '127.0.0.1', API_FLAVOUR: 'local-bob' },
    stdio: 'ignore',
  }), 'lanes');
  try {
    await waitFor('bob to hold port 8080', () => curl('http://api-0:8080/').includes('api local-bob'));
    // The view learns of bob's session from lanesd's push (cluster/watch), not by asking.
    await waitFor('bob\'s session in the lanes view', () => ext.view.cluster.some((s: any) => s.user === 'bob' && s.target === 'deploy/api'), 15000);
    const before = fake.recorded.shown.length;
    const d = await launch(apiLaunch('whole', 'local-alice', wholePort, { LANES_CONFIG: path.join(folder.uri.fsPath, 'whole.json') }));
    assert.equal(d, undefined, 'the launch went on');
    const shown = fake.recorded.shown.slice(before);
    assert.equal(shown.length, 1, JSON.stringify(shown));
    assert.equal(shown[0].kind, 'error');
    assert.match(shown[0].message, /another session holds a port of/);
    assert.match(shown[0].message, /bob \(session /);
    assert.deepEqual(shown[0].actions, ['Show Sessions', 'Open Config', 'Pick Another Target']);
    assert.deepEqual(await ownSessions(), []);
  } finally {
    await stopChild(holder);
  }
  await waitFor('bob\'s session to leave the lanes view', () => !ext.view.cluster.some((s: any) => s.user === 'bob'), 15000);
});

test('a killed lanesd is reported once and the next launch starts a new one', { timeout: 90000 }, async () => {
  const pid = ext.daemon.spawnedPid;
  assert.ok(pid, 'the extension started lanesd itself');
  const before = fake.recorded.shown.length;
  const d = await launch(apiLaunch('api', 'local-alice', alicePort));
  assert.ok(d);
  const lostId = d.session.configuration.__lanesSessionId;
  await waitFor('the session to steal before lanesd dies', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api local-alice'));
  process.kill(pid, 'SIGKILL');
  await waitFor('the loss to be reported', () => fake.recorded.shown.length > before, 10000);
  await new Promise((r) => setTimeout(r, 500));
  const shown = fake.recorded.shown.slice(before);
  assert.equal(shown.length, 1, JSON.stringify(shown));
  assert.match(shown[0].message, /lanesd ended; 1 session\(s\) were lost/);
  await endDebug(d);
  // The operator keeps the dropped session for its unused TTL (2 s in tst_vscode), its filter with it.
  await waitFor('the operator to end the dropped session', async () => {
    const cluster = await ext.daemon.call('cluster/sessions', { credentials: alice });
    return !cluster.sessions.some((s: any) => s.id === lostId);
  }, 15000);
  const again = await launch(apiLaunch('api', 'local-alice', alicePort));
  assert.ok(again, JSON.stringify(fake.recorded.shown.slice(before)));
  assert.notEqual(ext.daemon.spawnedPid, pid);
  await waitFor('the new session to steal', () => curl('http://api-0:8080/', 'x-lane: alice').includes('api local-alice'));
  await endDebug(again);
  await waitFor('the session to end', async () => (await ownSessions()).length === 0, 10000);
});

test('quiet by default: no information popped up', () => {
  assert.deepEqual(fake.recorded.shown.filter((s) => s.kind === 'info'), []);
});
