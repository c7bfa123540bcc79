// A small fake of the `vscode` module: what the extension uses, recording every call a test checks
// (messages shown, commands registered, settings read) and answering quick picks from a queue. install()
// makes `require('vscode')` return it, before the bundled extension is loaded.
import Module from 'module';

type Listener<T> = (e: T) => unknown;

export class EventEmitter<T> {
  private listeners: Array<Listener<T>> = [];
  event = (listener: Listener<T>) => {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  };
  fire(e: T): void {
    for (const l of [...this.listeners]) l(e);
  }
  dispose(): void {
    this.listeners = [];
  }
}

export class CancellationTokenSource {
  private emitter = new EventEmitter<void>();
  token = { isCancellationRequested: false, onCancellationRequested: this.emitter.event };
  cancel(): void {
    if (this.token.isCancellationRequested) return;
    this.token.isCancellationRequested = true;
    this.emitter.fire();
  }
  dispose(): void {}
}

export class Uri {
  constructor(readonly fsPath: string) {}
  static file(p: string): Uri {
    return new Uri(p);
  }
  toString(): string {
    return `file://${this.fsPath}`;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export class TreeItem {
  description?: string;
  tooltip?: string;
  contextValue?: string;
  id?: string;
  constructor(readonly label: string, readonly collapsibleState = 0) {}
}

export const TreeItemCollapsibleState = { None: 0, Collapsed: 1, Expanded: 2 };
export const StatusBarAlignment = { Left: 1, Right: 2 };
export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const QuickPickItemKind = { Separator: -1, Default: 0 };

export interface Shown {
  kind: 'error' | 'warning' | 'info';
  message: string;
  actions: string[];
}

/** What the extension did, for assertions; and what the "user" answers. */
export const recorded = {
  shown: [] as Shown[],
  commands: new Map<string, (...args: any[]) => unknown>(),
  settingsRead: new Set<string>(),
  settings: new Map<string, unknown>(),
  quickPickAnswers: [] as Array<(items: any[]) => any>,
  quickPicks: [] as any[][],
  progressTitles: [] as string[],
  progressMessages: [] as string[],
  opened: [] as string[],
  clipboard: '',
  providers: [] as Array<{ type: string; provider: any }>,
  treeProviders: new Map<string, any>(),
  statusBar: undefined as any,
  output: [] as string[],
};

const started = new EventEmitter<any>();
const terminated = new EventEmitter<any>();

function show(kind: Shown['kind']) {
  return async (message: string, ...actions: any[]) => {
    recorded.shown.push({ kind, message, actions: actions.filter((a) => typeof a === 'string') });
    return undefined;
  };
}

export const window = {
  createOutputChannel: (_name: string) => ({
    appendLine: (line: string) => recorded.output.push(line),
    show: () => undefined,
    dispose: () => undefined,
  }),
  createStatusBarItem: () => {
    recorded.statusBar = { text: '', tooltip: '', show: () => undefined, hide: () => undefined, dispose: () => undefined };
    return recorded.statusBar;
  },
  showErrorMessage: show('error'),
  showWarningMessage: show('warning'),
  showInformationMessage: show('info'),
  showQuickPick: async (items: any, _options?: unknown) => {
    const list = await items;
    recorded.quickPicks.push(list);
    const answer = recorded.quickPickAnswers.shift();
    return answer ? answer(list) : undefined;
  },
  showInputBox: async () => 'from the test',
  showTextDocument: async (uri: Uri) => {
    recorded.opened.push(uri.fsPath);
  },
  withProgress: async (options: { title?: string }, task: (progress: any, token: any) => Promise<unknown>) => {
    recorded.progressTitles.push(options.title ?? '');
    const source = new CancellationTokenSource();
    return task({ report: (v: { message?: string }) => v.message && recorded.progressMessages.push(v.message) }, source.token);
  },
  registerTreeDataProvider: (id: string, provider: any) => {
    recorded.treeProviders.set(id, provider);
    return { dispose: () => undefined };
  },
};

export const commands = {
  registerCommand: (id: string, fn: (...args: any[]) => unknown) => {
    recorded.commands.set(id, fn);
    return { dispose: () => recorded.commands.delete(id) };
  },
  executeCommand: async (id: string, ...args: any[]) => recorded.commands.get(id)?.(...args),
};

export const debug = {
  activeDebugSession: undefined as any,
  registerDebugConfigurationProvider: (type: string, provider: any) => {
    recorded.providers.push({ type, provider });
    return { dispose: () => undefined };
  },
  onDidStartDebugSession: started.event,
  onDidTerminateDebugSession: terminated.event,
};

/** What the editor does around a debug session that the provider resolved. */
export const debugEvents = { started, terminated };

export const workspace = {
  workspaceFolders: [] as Array<{ uri: Uri; name: string; index: number }>,
  getConfiguration: (section: string) => ({
    get: <T>(key: string, fallback?: T): T | undefined => {
      const full = `${section}.${key}`;
      recorded.settingsRead.add(full);
      return recorded.settings.has(full) ? (recorded.settings.get(full) as T) : fallback;
    },
  }),
};

export const env = {
  clipboard: {
    writeText: async (text: string) => {
      recorded.clipboard = text;
    },
  },
};

/** An ExtensionContext with in-memory state. */
export function context(): any {
  const state = new Map<string, unknown>();
  return {
    subscriptions: [] as Array<{ dispose(): unknown }>,
    globalState: {
      get: (k: string, d?: unknown) => (state.has(k) ? state.get(k) : d),
      update: async (k: string, v: unknown) => void state.set(k, v),
    },
  };
}

/** `require('vscode')` returns `api` (this module's namespace, as the test imported it) from now on. */
export function install(api: object): void {
  const self = api;
  const original = (Module as any)._load;
  (Module as any)._load = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return self;
    return original.call(this, request, ...rest);
  };
}
