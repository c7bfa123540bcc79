// The "lanes" view in Run and Debug: this editor's sessions, and the cluster's (user, target, ports,
// filters, age). Refreshed when lanesd says a session changed, and when the cluster's sessions change.
import * as vscode from 'vscode';
import { DaemonClient } from './daemon';
import { LaunchController } from './launch';
import { readSettings } from './settings';

export interface ClusterSession {
  id: string;
  user: string;
  target: string;
  ports?: number[];
  filters?: string[];
  portModes?: string[];
  queues?: string[];
  ageSeconds?: number;
  host?: string;
  state?: string;
}

type Node =
  | { kind: 'group'; label: string; children: Node[] }
  | { kind: 'own'; sessionId: string; label: string; description: string; tooltip: string }
  | { kind: 'cluster'; session: ClusterSession; mine: boolean }
  | { kind: 'note'; label: string };

function age(seconds = 0): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${Math.floor((seconds % 3600) / 60)}m`;
}

export class SessionsView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  cluster: ClusterSession[] = [];
  clusterError?: string;

  constructor(private daemon: DaemonClient, private launches: LaunchController) {
    // The cluster's sessions come pushed (cluster/watch), from each connection to lanesd on.
    daemon.on('cluster/sessionsChanged', (p: { sessions?: ClusterSession[] }) => this.show(p.sessions ?? []));
    daemon.onConnected(() => void this.watch());
    daemon.onLost(() => {
      this.cluster = [];
      this.clusterError = 'lanesd is not running; the next launch or Refresh starts it';
      this.changed.fire(undefined);
    });
  }

  /** Asks lanesd for the cluster's sessions now and whenever they change. */
  async watch(): Promise<void> {
    try {
      const reply = await this.daemon.call<{ sessions: ClusterSession[] }>('cluster/watch', { credentials: readSettings().credentialsFile });
      this.show(reply.sessions ?? []);
    } catch (e) {
      this.clusterError = (e as Error).message;
      this.changed.fire(undefined);
    }
  }

  private show(sessions: ClusterSession[]): void {
    this.cluster = sessions;
    this.clusterError = undefined;
    this.changed.fire(undefined);
  }

  async refresh(): Promise<void> {
    try {
      const reply = await this.daemon.call<{ sessions: ClusterSession[] }>('cluster/sessions', { credentials: readSettings().credentialsFile });
      this.cluster = reply.sessions ?? [];
      this.clusterError = undefined;
    } catch (e) {
      this.clusterError = (e as Error).message;
    }
    this.changed.fire(undefined);
  }

  /** Shows what is known now, without asking the cluster again. */
  redraw(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'group') {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
      item.contextValue = 'group';
      return item;
    }
    if (node.kind === 'note') return new vscode.TreeItem(node.label);
    if (node.kind === 'own') {
      const item = new vscode.TreeItem(node.label);
      item.description = node.description;
      item.tooltip = node.tooltip;
      item.contextValue = 'lanes.ownSession';
      item.id = `own:${node.sessionId}`;
      return item;
    }
    const s = node.session;
    const item = new vscode.TreeItem(`${s.user} · ${s.target}`);
    const what = s.portModes?.length ? s.portModes.join('; ') : (s.ports ?? []).join(', ');
    item.description = `${what}${s.queues?.length ? ` · queues ${s.queues.join(', ')}` : ''} · ${age(s.ageSeconds)}`;
    item.tooltip = `session ${s.id} of ${s.user}${s.host ? ` on ${s.host}` : ''}, ${s.state ?? 'running'}\n${(s.filters ?? []).join('\n')}`;
    item.contextValue = node.mine ? 'lanes.ownClusterSession' : 'lanes.clusterSession';
    item.id = `cluster:${s.id}`;
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (node) return node.kind === 'group' ? node.children : [];
    const own: Node[] = this.launches.running.map((s) => ({
      kind: 'own',
      sessionId: s.sessionId,
      label: s.target,
      description: `${s.ports.map((p) => `${p.remote}→${p.local ?? p.remote}`).join(', ')} · ${s.state} · ${age(Math.round((Date.now() - s.startedAt) / 1000))}`,
      tooltip: `session ${s.sessionId}${s.configPath ? `\nconfig ${s.configPath}` : ''}`,
    }));
    const mine = new Set(this.launches.running.map((s) => s.sessionId));
    const cluster: Node[] = this.clusterError
      ? [{ kind: 'note', label: `cannot list the cluster's sessions: ${this.clusterError}` }]
      : this.cluster.map((s) => ({ kind: 'cluster', session: s, mine: mine.has(s.id) }));
    return [
      { kind: 'group', label: 'This editor', children: own.length ? own : [{ kind: 'note', label: 'no session' }] },
      { kind: 'group', label: 'Cluster', children: cluster.length ? cluster : [{ kind: 'note', label: 'no session' }] },
    ];
  }

  dispose(): void {
    this.changed.dispose();
  }
}
