// Debug launches under lanes: resolveDebugConfigurationWithSubstitutedVariables for every debugger type.
// A launch that lanes is on for gets its config verified, a target when it needs one, a session with its
// start shown in a cancellable notification, and the session's environment merged in. The session lives as
// long as its debug sessions, plus a short grace period, so Restart reuses it instead of racing it.
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { DaemonClient, DaemonError, kStartTimeoutMs } from './daemon';
import { LaunchLike, chooseConfig, isActive, isHookable } from './discovery';
import { mergeEnvironment } from './environment';
import { FixAction, explain } from './errors';
import { Notifier } from './notify';
import { readSettings } from './settings';

export interface PortMapping {
  remote: number;
  local?: number;
}

export interface OwnSession {
  sessionId: string;
  target: string;
  ports: PortMapping[];
  env: Record<string, string>;
  key: string;
  configPath?: string;
  state: string;
  reason?: string;
  debugSessions: Set<string>;
  stopTimer?: NodeJS.Timeout;
  startedAt: number;
}

interface TargetEntry {
  path: string;
  kind: string;
  ports?: number[];
  pods?: Array<{ name: string }>;
}

/** Marks a launch configuration as lanes': the debug session that starts from it is tied to the session. */
export const kSessionKey = '__lanesSessionId';
/** A session whose debug session has not started after this long (a preLaunchTask builds first) is let go. */
const kUnclaimedMs = 10 * 60000;

function tagged(launch: LaunchLike, sessionId: string): vscode.DebugConfiguration {
  return { ...launch, [kSessionKey]: sessionId } as unknown as vscode.DebugConfiguration;
}

function childLaunch(config: vscode.DebugConfiguration): boolean {
  // js-debug's and debugpy's child sessions (a subprocess, a worker) carry these.
  return ['__pendingTargetId', '__parentId', 'subProcessId', '__parentSessionId'].some((k) => k in config);
}

export class LaunchController implements vscode.DebugConfigurationProvider {
  toggle = false;
  pickedConfig?: string;
  pickedTarget?: string;
  readonly sessions = new Map<string, OwnSession>();
  private recentTargets: string[] = [];
  private progressQueue: Array<(message: string) => void> = [];
  private progressByToken = new Map<string, (message: string) => void>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  constructor(
    private daemon: DaemonClient,
    private notifier: Notifier,
    private state: vscode.Memento,
    private commands: { showSessions: () => void },
  ) {
    this.recentTargets = state.get<string[]>('lanes.recentTargets', []);
    this.toggle = state.get<boolean>('lanes.enabled', false);
    this.pickedConfig = state.get<string>('lanes.pickedConfig');
    daemon.on('$/progress', (p: { token: string; value: { kind: string; title?: string; message?: string } }) => {
      let report = this.progressByToken.get(p.token);
      if (!report && p.value.kind === 'begin') {
        report = this.progressQueue.shift();
        if (report) this.progressByToken.set(p.token, report);
      }
      if (!report) return;
      if (p.value.message) report(p.value.message);
      if (p.value.kind === 'end') this.progressByToken.delete(p.token);
    });
    daemon.on('session/stateChanged', (p: { sessionId: string; state: string; reason?: string }) => {
      const own = this.sessions.get(p.sessionId);
      if (!own) return this.changed.fire();
      own.state = p.state;
      own.reason = p.reason;
      if (['lost', 'killed', 'ended'].includes(p.state))
        void this.notifier.show('needsUser', `lanes: the session on ${own.target} is ${p.state}${p.reason ? `: ${p.reason}` : ''}`, 'Show Sessions').then((a) => {
          if (a === 'Show Sessions') this.commands.showSessions();
        });
      if (['lost', 'killed', 'ended', 'stopped'].includes(p.state)) this.forget(own);
      this.changed.fire();
    });
    daemon.on('session/notice', (p: { sessionId: string; level?: string; message: string }) => {
      const own = this.sessions.get(p.sessionId);
      const needsUser = own && (p.level === 'warning' || p.level === 'error' || /preempt/i.test(p.message));
      void this.notifier.show(needsUser ? 'needsUser' : 'info', `lanes: ${p.message}`);
    });
    daemon.on('window/showMessage', (p: { type: number; message: string }) => {
      void this.notifier.show(p.type === 1 ? 'error' : p.type === 2 ? 'needsUser' : 'info', `lanes: ${p.message}`);
    });
    daemon.onLost(() => {
      const had = [...this.sessions.values()];
      for (const own of had) {
        own.state = 'lost';
        this.forget(own);
      }
      void this.notifier
        .show(had.length ? 'error' : 'needsUser', `lanes: lanesd ended${had.length ? `; ${had.length} session(s) were lost` : ''}. The next launch starts it again.`, 'Show Log')
        .then((a) => a === 'Show Log' && this.notifier.channel.show(true));
      this.changed.fire();
    });
  }

  get running(): OwnSession[] {
    return [...this.sessions.values()];
  }

  async setToggle(on: boolean): Promise<void> {
    this.toggle = on;
    await this.state.update('lanes.enabled', on);
    this.changed.fire();
  }

  async setPickedConfig(file: string | undefined): Promise<void> {
    this.pickedConfig = file;
    await this.state.update('lanes.pickedConfig', file);
    this.changed.fire();
  }

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
    token?: vscode.CancellationToken,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const launch = config as LaunchLike;
    if (!isHookable(launch, childLaunch(config)) || !isActive(launch, this.toggle)) return config;
    const root = folder?.uri.fsPath ?? process.cwd();
    const choice = chooseConfig(launch, this.pickedConfig, workspaceConfigs(root));
    const configPath = choice.path ? path.resolve(root, choice.path) : undefined;
    const key = `${root}|${config.name ?? ''}|${config.type ?? ''}|${configPath ?? ''}|${this.pickedTarget ?? ''}`;
    // Restart: the session of the launch that just ended is in its grace period; it carries on.
    for (const own of this.sessions.values())
      if (own.key === key && own.debugSessions.size === 0 && own.state === 'running') {
        clearTimeout(own.stopTimer);
        own.stopTimer = setTimeout(() => this.release(own), kUnclaimedMs);
        this.notifier.log(`launch "${config.name}" reuses session ${own.sessionId} on ${own.target}`);
        return tagged(mergeEnvironment(launch, own.env, process.env), own.sessionId);
      }
    let needsTarget = true;
    try {
      if (configPath) {
        this.notifier.log(`launch "${config.name}": config ${configPath} (${choice.source})`);
        const verified = await this.daemon.call<{
          valid: boolean;
          errors: Array<{ path: string; message: string }>;
          warnings: Array<{ path: string; message: string }>;
          needsTarget: boolean;
        }>('config/verify', { path: configPath, cwd: root });
        for (const w of verified.warnings) this.notifier.log(`config ${w.path || '(file)'}: ${w.message}`);
        if (!verified.valid) {
          const first = verified.errors[0];
          void this.refuse({ message: `lanes: the config ${path.basename(configPath)} is not valid: ${first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'unknown error'}`, actions: ['Open Config'], name: 'INVALID_ARGUMENT' }, configPath);
          return undefined;
        }
        needsTarget = verified.needsTarget;
      }
      let target: string | undefined;
      if (needsTarget) {
        target = this.pickedTarget ?? (await this.pickTarget());
        if (!target) {
          this.notifier.log(`launch "${config.name}": no target picked; the launch is cancelled`);
          return undefined;
        }
      }
      if (token?.isCancellationRequested) return undefined;
      const started = await this.start(configPath, target, root, key);
      return tagged(mergeEnvironment(launch, started.env, process.env), started.sessionId);
    } catch (e) {
      const error = e as DaemonError;
      const explained = error.rpc ? explain(error.rpc, { target: this.pickedTarget }) : { name: 'UNSPECIFIED', message: `lanes: ${error.message}`, actions: ['Show Log'] as FixAction[] };
      if (explained.name !== 'CANCELLED') void this.refuse(explained, configPath);
      else this.notifier.log(explained.message);
      return undefined;
    }
  }

  /** A debug session began: if its configuration is lanes', it holds the session. */
  debugSessionStarted(session: vscode.DebugSession): void {
    const id = session.configuration?.[kSessionKey];
    const own = typeof id === 'string' ? this.sessions.get(id) : undefined;
    if (typeof id === 'string' && !own) {
      // A Restart that reused the resolved launch after the session's grace period: it runs without one.
      void this.notifier.show('needsUser', `lanes: the session of "${session.name}" ended before it started again (raise lanes.stopGraceSeconds); restart the launch to get a new one`);
      return;
    }
    if (!own) return;
    clearTimeout(own.stopTimer);
    own.stopTimer = undefined;
    own.debugSessions.add(session.id);
  }

  /** A debug session ended: its lanes session stops after the grace period, unless a Restart claims it. */
  debugSessionEnded(session: vscode.DebugSession): void {
    for (const own of this.sessions.values()) {
      if (!own.debugSessions.delete(session.id) || own.debugSessions.size > 0) continue;
      const grace = readSettings().stopGraceSeconds * 1000;
      clearTimeout(own.stopTimer);
      own.stopTimer = setTimeout(() => this.release(own), grace);
    }
  }

  async stop(sessionId: string): Promise<void> {
    const own = this.sessions.get(sessionId);
    if (own) this.forget(own);
    await this.daemon.call('session/stop', { sessionId });
    this.changed.fire();
  }

  dispose(): void {
    for (const own of this.sessions.values()) clearTimeout(own.stopTimer);
    this.changed.dispose();
  }

  /** targets/list as a quick pick: grouped by kind, most recent first, ports and current holders shown. */
  async pickTarget(): Promise<string | undefined> {
    const credentials = readSettings().credentialsFile;
    const [list, cluster] = await Promise.all([
      this.daemon.call<{ targets: TargetEntry[] }>('targets/list', { credentials }),
      this.daemon.call<{ locks?: Array<{ pod: string; port: number; user: string; filter?: string }> }>('cluster/sessions', { credentials }).catch(() => ({ locks: [] })),
    ]);
    const holders = (t: TargetEntry): string => {
      const pods = new Set((t.pods ?? []).map((p) => p.name));
      const held = (cluster.locks ?? []).filter((l) => pods.has(l.pod));
      return held.map((l) => `${l.user} holds ${l.port}${l.filter ? ` (${l.filter})` : ''}`).join(', ');
    };
    const recent = (p: string) => {
      const i = this.recentTargets.indexOf(p);
      return i < 0 ? Number.MAX_SAFE_INTEGER : i;
    };
    const items: Array<vscode.QuickPickItem & { target?: string }> = [];
    for (const kind of ['deployment', 'pod']) {
      const group = list.targets.filter((t) => t.kind === kind).sort((a, b) => recent(a.path) - recent(b.path) || a.path.localeCompare(b.path));
      if (group.length === 0) continue;
      items.push({ label: kind === 'deployment' ? 'Deployments' : 'Pods', kind: vscode.QuickPickItemKind.Separator });
      for (const t of group)
        items.push({ label: t.path, description: t.ports?.length ? `ports ${t.ports.join(', ')}` : '', detail: holders(t) || undefined, target: t.path });
    }
    const picked = await vscode.window.showQuickPick(items, { placeHolder: 'The target to run against', matchOnDescription: true });
    return picked?.target;
  }

  private async start(configPath: string | undefined, target: string | undefined, cwd: string, key: string): Promise<OwnSession> {
    const settings = readSettings();
    const params: Record<string, unknown> = { credentials: settings.credentialsFile, cwd, ignoreLocalhost: true };
    if (configPath) params.configPath = configPath;
    if (target) params.target = target;
    const result = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `lanes: starting a session${target ? ` on ${target}` : ''}`, cancellable: true },
      async (progress, cancel) => {
        const report = (message: string) => {
          progress.report({ message });
          this.notifier.log(message);
        };
        this.progressQueue.push(report);
        try {
          return await this.daemon.call<{ sessionId: string; target: string; ports: PortMapping[]; env: Record<string, string> }>('session/start', params, kStartTimeoutMs, cancel);
        } finally {
          // A start refused before lanesd said `begin` must not take the next start's progress.
          this.progressQueue = this.progressQueue.filter((r) => r !== report);
          for (const [token, r] of this.progressByToken) if (r === report) this.progressByToken.delete(token);
        }
      },
    );
    const own: OwnSession = {
      sessionId: result.sessionId,
      target: result.target,
      ports: result.ports ?? [],
      env: result.env ?? {},
      key,
      configPath,
      state: 'running',
      debugSessions: new Set(),
      startedAt: Date.now(),
    };
    own.stopTimer = setTimeout(() => this.release(own), kUnclaimedMs);
    this.sessions.set(own.sessionId, own);
    this.recentTargets = [own.target, ...this.recentTargets.filter((t) => t !== own.target)].slice(0, 20);
    void this.state.update('lanes.recentTargets', this.recentTargets);
    void this.notifier.show('info', `lanes: session ${own.sessionId} on ${own.target} (${own.ports.map((p) => `${p.remote}→${p.local ?? p.remote}`).join(', ')})`);
    this.changed.fire();
    return own;
  }

  private release(own: OwnSession): void {
    if (own.debugSessions.size > 0 || !this.sessions.has(own.sessionId)) return;
    this.notifier.log(`session ${own.sessionId} on ${own.target}: its debug session ended; stopping it`);
    this.stop(own.sessionId).catch((e) => this.notifier.log(`session/stop ${own.sessionId}: ${(e as Error).message}`));
  }

  private forget(own: OwnSession): void {
    clearTimeout(own.stopTimer);
    this.sessions.delete(own.sessionId);
  }

  private async refuse(explained: { message: string; actions: FixAction[]; name: string }, configPath?: string): Promise<void> {
    const action = await this.notifier.show('error', explained.message, ...explained.actions);
    if (action === 'Open Config' && configPath) await vscode.window.showTextDocument(vscode.Uri.file(configPath));
    else if (action === 'Pick Another Target') this.pickedTarget = await this.pickTarget();
    else if (action === 'Show Sessions') this.commands.showSessions();
    else if (action === 'Show Log') this.notifier.channel.show(true);
  }
}

/** `.lanes/*.json` and `.mirrord/*mirrord.json` of a workspace folder, relative to it. */
export function workspaceConfigs(root: string): string[] {
  const out: string[] = [];
  for (const dir of ['.lanes', '.mirrord']) {
    try {
      for (const name of fs.readdirSync(path.join(root, dir))) out.push(`${dir}/${name}`);
    } catch {
      // no such folder
    }
  }
  return out;
}
