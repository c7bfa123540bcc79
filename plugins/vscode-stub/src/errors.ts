// lanesd's errors, as a developer reads them in the editor: what went wrong and the action that fixes it.
// Pure: the code names of ide-protocol/openrpc.json (error.data.code; -32010 - N for cluster error N).

export type FixAction = 'Open Config' | 'Pick Another Target' | 'Show Sessions' | 'Show Log';

export interface RpcErrorLike {
  code?: number;
  message?: string;
  data?: { code?: string; policy?: string } | unknown;
}

export interface Explained {
  /** The code's name: PORT_LOCKED, FORBIDDEN_BY_POLICY, ... */
  name: string;
  message: string;
  actions: FixAction[];
}

const byNumber: Record<number, string> = {
  1: 'PROTOCOL', 2: 'FORBIDDEN_BY_POLICY', 3: 'PORT_LOCKED', 4: 'FILTER_OVERLAP', 5: 'TARGET_NOT_FOUND',
  6: 'UNAUTHENTICATED', 7: 'UNAUTHORIZED', 8: 'AGENT_LOST', 9: 'UNSUPPORTED', 10: 'INTERNAL',
  11: 'CONNECT_FAILED', 12: 'SESSION_NOT_FOUND', 13: 'INVALID_ARGUMENT', 14: 'FLOW_CONTROL', 15: 'CANCELLED',
  16: 'SESSION_KILLED',
};

/** The error's code name, from error.data.code, else from the number. */
export function errorName(error: RpcErrorLike): string {
  const data = error.data as { code?: unknown } | undefined;
  if (data && typeof data.code === 'string' && data.code) return data.code;
  if (error.code === -32602) return 'INVALID_ARGUMENT';
  if (error.code === -32603) return 'INTERNAL';
  if (typeof error.code === 'number' && error.code <= -32010 && error.code > -32100)
    return byNumber[-32010 - error.code] ?? 'UNSPECIFIED';
  return 'UNSPECIFIED';
}

/** A refusal of session/start, explained, with the actions that fix it. */
export function explain(error: RpcErrorLike, context: { target?: string; config?: string } = {}): Explained {
  const name = errorName(error);
  const said = (error.message ?? '').replace(/^[A-Z_]+: /, '');
  const target = context.target ? ` ${context.target}` : '';
  switch (name) {
    case 'PORT_LOCKED':
    case 'FILTER_OVERLAP':
      return {
        name,
        message: `lanes: another session holds a port of${target}: ${said}. Add an HTTP filter to share the port, or ask its holder.`,
        actions: ['Show Sessions', 'Open Config', 'Pick Another Target'],
      };
    case 'FORBIDDEN_BY_POLICY': {
      const data = error.data as { policy?: unknown } | undefined;
      const policy = data && typeof data.policy === 'string' && data.policy ? ` (policy ${data.policy})` : '';
      return { name, message: `lanes: a cluster policy forbids this${policy}: ${said}`, actions: ['Open Config'] };
    }
    case 'INVALID_ARGUMENT':
      return { name, message: `lanes: the config is not valid: ${said}`, actions: ['Open Config'] };
    case 'TARGET_NOT_FOUND':
      return { name, message: `lanes: no such target${target}: ${said}`, actions: ['Pick Another Target', 'Open Config'] };
    case 'UNAUTHENTICATED':
    case 'UNAUTHORIZED':
      return { name, message: `lanes: the cluster refused your credentials: ${said}. Check the lanes.credentialsFile setting.`, actions: ['Show Log'] };
    case 'CONNECT_FAILED':
      return { name, message: `lanes: the cluster did not answer: ${said}`, actions: ['Show Log'] };
    case 'CANCELLED':
      return { name, message: 'lanes: the session start was cancelled', actions: [] };
    default:
      return { name, message: `lanes: ${said || name}`, actions: ['Show Log'] };
  }
}
