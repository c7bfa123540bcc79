// The lanes extension: one connection to lanesd, debug launches under lanes, the sessions view, the status
// bar item and the commands. activate() returns the parts, for tests and for other extensions.
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { DaemonClient } from './daemon';
import { execCommand } from './environment';
import { LaunchController, workspaceConfigs } from './launch';
import { Notifier } from './notify';
import { SessionsView } from './sessionsView';
import { readSettings } from './settings';

export interface LanesApi {
  daemon: DaemonClient;
  launches: LaunchController;
  view: SessionsView;
  notifier: Notifier;
  statusBar: vscode.StatusBarItem;
}

const kStarterConfig = {
  target: { path: 'deploy/NAME' },
  feature: {
    network: {
      incoming: { mode: 'steal', http_filter: { header_filter: 'x-lane: YOUR-NAME' } },
      outgoing: true,
    },
  },
};

function folderPath(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

export function activate(context: vscode.ExtensionContext): LanesApi {
  const notifier = new Notifier();
  const settings = readSettings();
  const daemon = new DaemonClient({
    socketPath: settings.socket,
    lanesdPath: settings.lanesdPath,
    clientName: 'vscode',
    rootPath: folderPath(),
    log: (line) => notifier.log(line),
  });
  let view: SessionsView | undefined;
  const launches = new LaunchController(daemon, notifier, context.globalState, {
    showSessions: () => void vscode.commands.executeCommand('lanes.sessions.focus'),
  });
  view = new SessionsView(daemon, launches);
  const statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  statusBar.command = 'lanes.toggle';
  let lostSince = 0;
  const updateStatus = () => {
    const running = launches.running;
    if (running.length > 0) statusBar.text = `lanes: ${running.map((s) => s.target).join(', ')}`;
    else statusBar.text = launches.toggle ? 'lanes: on' : 'lanes: off';
    statusBar.backgroundColor = lostSince ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    statusBar.tooltip = lostSince ? 'lanes: a session was lost; click to toggle, see the lanes view' : 'lanes: click to turn on or off for debug launches';
    statusBar.show();
  };
  launches.onDidChange(() => {
    updateStatus();
    view?.redraw();
  });
  daemon.on('session/stateChanged', (p: { state: string }) => {
    if (['lost', 'killed', 'ended'].includes(p.state)) lostSince = Date.now();
    if (p.state === 'running') lostSince = 0;
    updateStatus();
    void view?.refresh();
  });
  daemon.onLost(() => {
    lostSince = Date.now();
    updateStatus();
  });
  updateStatus();

  const pickConfig = async () => {
    const root = folderPath();
    if (!root) return void notifier.show('error', 'lanes: open a folder first');
    const files = workspaceConfigs(root);
    const picked = await vscode.window.showQuickPick(
      [{ label: '(none: find one per launch)', file: undefined as string | undefined }, ...files.map((f) => ({ label: f, file: f }))],
      { placeHolder: 'The lanes config for debug launches' },
    );
    if (picked) await launches.setPickedConfig(picked.file ? path.join(root, picked.file) : undefined);
  };
  const configToOpen = (): string | undefined => {
    const root = folderPath();
    if (launches.pickedConfig) return launches.pickedConfig;
    if (!root) return undefined;
    const first = workspaceConfigs(root).filter((f) => f.endsWith('.json'))[0];
    return first ? path.join(root, first) : undefined;
  };
  const register = (id: string, fn: (...args: any[]) => unknown) => context.subscriptions.push(vscode.commands.registerCommand(id, fn));

  register('lanes.toggle', async () => {
    await launches.setToggle(!launches.toggle);
    notifier.log(`lanes is ${launches.toggle ? 'on' : 'off'} for debug launches`);
  });
  register('lanes.pickTarget', async () => {
    try {
      const target = await launches.pickTarget();
      if (target) launches.pickedTarget = target;
    } catch (e) {
      void notifier.show('error', `lanes: cannot list the targets: ${(e as Error).message}`, 'Show Log');
    }
  });
  register('lanes.pickConfig', pickConfig);
  register('lanes.openConfig', async () => {
    const file = configToOpen();
    if (!file) return void notifier.show('error', 'lanes: no config in this workspace; "lanes: Create Config" makes one');
    await vscode.window.showTextDocument(vscode.Uri.file(file));
  });
  register('lanes.createConfig', async () => {
    const root = folderPath();
    if (!root) return void notifier.show('error', 'lanes: open a folder first');
    const file = path.join(root, '.lanes', 'lanes.json');
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(kStarterConfig, null, 2) + '\n');
    }
    await launches.setPickedConfig(file);
    await vscode.window.showTextDocument(vscode.Uri.file(file));
  });
  register('lanes.showSessions', async () => {
    await vscode.commands.executeCommand('lanes.sessions.focus');
    await view?.refresh();
  });
  register('lanes.refreshSessions', () => view?.refresh());
  register('lanes.stopSession', async (node?: { sessionId?: string; session?: { id: string } }) => {
    let id = node?.sessionId ?? node?.session?.id;
    if (!id) {
      const picked = await vscode.window.showQuickPick(launches.running.map((s) => ({ label: s.target, description: s.sessionId, id: s.sessionId })), { placeHolder: 'The session to stop' });
      id = picked?.id;
    }
    if (!id) return;
    try {
      await launches.stop(id);
    } catch (e) {
      void notifier.show('error', `lanes: cannot stop session ${id}: ${(e as Error).message}`);
    }
    await view?.refresh();
  });
  register('lanes.killSession', async (node?: { session?: { id: string; user: string; target: string } }) => {
    const s = node?.session;
    if (!s) return;
    const reason = await vscode.window.showInputBox({ prompt: `Why end ${s.user}'s session on ${s.target}? (they are told)` });
    if (reason === undefined) return;
    try {
      await daemon.call('cluster/kill', { credentials: readSettings().credentialsFile, sessionId: s.id, reason });
      notifier.log(`killed session ${s.id} of ${s.user}`);
    } catch (e) {
      void notifier.show('error', `lanes: cannot kill session ${s.id}: ${(e as Error).message}`);
    }
    await view?.refresh();
  });
  register('lanes.showLog', () => notifier.channel.show(true));
  register('lanes.copyExecCommand', async () => {
    const launch = vscode.debug.activeDebugSession?.configuration;
    const program = launch ? [String(launch.program ?? launch.module ?? 'PROGRAM'), ...((launch.args as string[]) ?? [])] : ['PROGRAM'];
    const text = execCommand({ config: launches.pickedConfig ?? configToOpen(), target: launches.pickedTarget, program });
    await vscode.env.clipboard.writeText(text);
    notifier.log(`copied: ${text}`);
  });
  register('lanes.openGui', () => {
    const gui = readSettings().guiPath;
    const child = cp.spawn(gui, ['--socket', readSettings().socket], { detached: true, stdio: 'ignore' });
    child.on('error', (e) => void notifier.show('error', `lanes: cannot start ${gui}: ${e.message}`));
    child.unref();
  });

  context.subscriptions.push(
    vscode.debug.registerDebugConfigurationProvider('*', launches),
    vscode.debug.onDidStartDebugSession((s) => launches.debugSessionStarted(s)),
    vscode.debug.onDidTerminateDebugSession((s) => launches.debugSessionEnded(s)),
    vscode.window.registerTreeDataProvider('lanes.sessions', view),
    statusBar,
    { dispose: () => launches.dispose() },
    { dispose: () => view?.dispose() },
    { dispose: () => daemon.dispose() },
    { dispose: () => notifier.dispose() },
  );
  return { daemon, launches, view, notifier, statusBar };
}

export function deactivate(): void {
  // context.subscriptions end the connection, and with it this editor's sessions
}
