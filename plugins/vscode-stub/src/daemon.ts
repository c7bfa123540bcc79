// The one long-lived connection to lanesd (ide-protocol/openrpc.json): over its Unix socket, framed with
// Content-Length as in LSP, through vscode-jsonrpc. When nobody answers on the socket, lanesd is started as
// the CLI starts it, so the editor, the CLI and the GUI see the same sessions. Every call has a timeout;
// a lanesd that dies is reported once, and the next call starts a new one.
import * as cp from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import {
  CancellationToken,
  CancellationTokenSource,
  MessageConnection,
  ResponseError,
  createMessageConnection,
} from 'vscode-jsonrpc/node';
import { SocketMessageReader, SocketMessageWriter } from 'vscode-jsonrpc/node';

export interface DaemonOptions {
  socketPath: string;
  lanesdPath: string;
  log: (line: string) => void;
  clientName: string;
  rootPath?: string;
}

/** The socket lanesd and `lanes` use by default (ide-protocol/socketpath.cpp). */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LANES_SOCKET) return env.LANES_SOCKET;
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime && fs.existsSync(runtime)) return path.join(runtime, 'lanes', 'lanesd.sock');
  return `/tmp/lanes-${os.userInfo().uid}/lanesd.sock`;
}

export class DaemonError extends Error {
  constructor(message: string, readonly rpc?: { code: number; message: string; data?: unknown }) {
    super(message);
  }
}

export const kCallTimeoutMs = 15000;
export const kStartTimeoutMs = 180000;
const kConnectWaitMs = 10000;
const kIdleExitSeconds = 60; // as `lanes` starts it: it exits a minute after its last client

type Listener = (params: any) => void;

export class DaemonClient {
  private connection?: MessageConnection;
  private connecting?: Promise<MessageConnection>;
  private socket?: net.Socket;
  private listeners = new Map<string, Listener[]>();
  private lostListeners: Array<(why: string) => void> = [];
  private connectedListeners: Array<() => void> = [];
  private reportedLoss = false;
  private disposed = false;
  /** The pid of the lanesd this client started, if it did. */
  spawnedPid?: number;

  constructor(private options: DaemonOptions) {}

  /** Notifications of lanesd (session/stateChanged, session/traffic, ...), across reconnections. */
  on(method: string, listener: Listener): void {
    const list = this.listeners.get(method) ?? [];
    list.push(listener);
    this.listeners.set(method, list);
  }

  /** Called after each (re)connection, once lanesd is initialized. */
  onConnected(listener: () => void): void {
    this.connectedListeners.push(listener);
  }

  /** Called once per loss of the connection (lanesd ended or was killed). */
  onLost(listener: (why: string) => void): void {
    this.lostListeners.push(listener);
  }

  get connected(): boolean {
    return this.connection !== undefined;
  }

  /** A request with a timeout; a cancellation token cancels it ($/cancelRequest). */
  async call<R>(method: string, params: unknown, timeoutMs = kCallTimeoutMs, token?: CancellationToken): Promise<R> {
    const connection = await this.connect();
    const source = new CancellationTokenSource();
    const forwarded = token?.onCancellationRequested(() => source.cancel());
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        source.cancel();
        reject(new DaemonError(`lanesd did not answer ${method} within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([connection.sendRequest<R>(method, params, source.token), timeout]);
    } catch (e) {
      if (e instanceof ResponseError)
        throw new DaemonError(e.message, { code: e.code, message: e.message, data: e.data });
      throw e instanceof DaemonError ? e : new DaemonError(String((e as Error)?.message ?? e));
    } finally {
      clearTimeout(timer);
      forwarded?.dispose();
      source.dispose();
    }
  }

  notify(method: string, params: unknown): void {
    void this.connection?.sendNotification(method, params);
  }

  async connect(): Promise<MessageConnection> {
    if (this.disposed) throw new DaemonError('the lanes extension is shutting down');
    if (this.connection) return this.connection;
    if (!this.connecting)
      this.connecting = this.open().finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  dispose(): void {
    this.disposed = true;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) {
      connection.sendNotification('exit').catch(() => undefined);
      connection.dispose();
    }
    this.socket?.destroy();
  }

  private async open(): Promise<MessageConnection> {
    let socket = await this.tryConnect();
    if (!socket) {
      this.spawn();
      const deadline = Date.now() + kConnectWaitMs;
      while (!socket && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        socket = await this.tryConnect();
      }
      if (!socket) throw new DaemonError(`lanesd did not come up on ${this.options.socketPath}`);
    }
    const connection = createMessageConnection(new SocketMessageReader(socket), new SocketMessageWriter(socket));
    connection.onNotification((method: string, params: unknown) => {
      if (this.listeners.has(method)) this.dispatch(method, params);
      else this.options.log(`lanesd: ${method} ${JSON.stringify(params)}`);
    });
    connection.onUnhandledProgress((params) => this.dispatch('$/progress', params));
    connection.onClose(() => this.lost(connection, 'lanesd closed the connection'));
    connection.onError(([error]) => this.options.log(`lanesd connection: ${error.message}`));
    connection.listen();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        connection.sendRequest('initialize', {
          processId: process.pid,
          clientInfo: { name: this.options.clientName },
          capabilities: {},
          rootPath: this.options.rootPath,
        }),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new DaemonError('lanesd did not answer initialize')), kCallTimeoutMs);
        }),
      ]);
      await connection.sendNotification('initialized', {});
      if (this.disposed) throw new DaemonError('the lanes extension is shutting down');
    } catch (e) {
      // Not a half-open client that would keep lanesd from its idle exit.
      connection.dispose();
      socket.destroy();
      throw e instanceof DaemonError ? e : new DaemonError(String((e as Error)?.message ?? e));
    } finally {
      clearTimeout(timer);
    }
    this.socket = socket;
    this.connection = connection;
    this.reportedLoss = false;
    this.options.log(`connected to lanesd on ${this.options.socketPath}`);
    setImmediate(() => this.connectedListeners.forEach((l) => l()));
    return connection;
  }

  private dispatch(method: string, params: unknown): void {
    for (const listener of this.listeners.get(method) ?? []) {
      try {
        listener(params);
      } catch (e) {
        this.options.log(`a handler of ${method} failed: ${(e as Error).message}`);
      }
    }
  }

  private lost(connection: MessageConnection, why: string): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    connection.dispose();
    if (this.disposed || this.reportedLoss) return;
    this.reportedLoss = true;
    this.options.log(`${why}; the next use starts lanesd again`);
    for (const listener of this.lostListeners) listener(why);
  }

  private tryConnect(): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect(this.options.socketPath);
      socket.once('connect', () => {
        socket.removeAllListeners('error');
        socket.on('error', () => undefined); // reported through the connection's close
        resolve(socket);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(undefined);
      });
    });
  }

  private spawn(): void {
    const dir = path.dirname(this.options.socketPath);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const log = fs.openSync(path.join(dir, 'lanesd.log'), 'a');
    this.options.log(`starting ${this.options.lanesdPath} on ${this.options.socketPath}`);
    const child = cp.spawn(
      this.options.lanesdPath,
      ['--socket', this.options.socketPath, '--idle-exit', String(kIdleExitSeconds)],
      { detached: true, stdio: ['ignore', log, log] },
    );
    fs.closeSync(log);
    child.on('error', (e) => this.options.log(`cannot start lanesd: ${e.message}`));
    this.spawnedPid = child.pid;
    child.unref();
  }
}
