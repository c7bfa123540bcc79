// Quiet by default: everything goes to the "lanes" output channel; a notification only for an error or what
// needs the user, as the lanes.notifications setting allows.
import * as vscode from 'vscode';
import { readSettings } from './settings';

export type Kind = 'info' | 'needsUser' | 'error';

export class Notifier {
  readonly channel: vscode.OutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('lanes');
  }

  log(line: string): void {
    this.channel.appendLine(`${new Date().toISOString().slice(11, 23)} ${line}`);
  }

  /** Logs the message, and shows it when the setting allows; resolves to the action picked, if any. */
  async show(kind: Kind, message: string, ...actions: string[]): Promise<string | undefined> {
    this.log(message);
    const level = readSettings().notifications;
    if (level === 'none' || (level === 'errors' && kind === 'info')) return undefined;
    if (kind === 'error') return vscode.window.showErrorMessage(message, ...actions);
    if (kind === 'needsUser') return vscode.window.showWarningMessage(message, ...actions);
    return vscode.window.showInformationMessage(message, ...actions);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
