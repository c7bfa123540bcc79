// The extension's settings (package.json, contributes.configuration), read in one place so that a test can
// check that every contributed setting is read.
import * as vscode from 'vscode';
import { defaultSocketPath } from './daemon';

export type NotificationLevel = 'all' | 'errors' | 'none';

export interface Settings {
  notifications: NotificationLevel;
  credentialsFile: string;
  socket: string;
  lanesdPath: string;
  guiPath: string;
  stopGraceSeconds: number;
}

/** Every key under `lanes.` that the extension reads. */
export const settingKeys = ['notifications', 'credentialsFile', 'socket', 'lanesdPath', 'guiPath', 'stopGraceSeconds'] as const;

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration('lanes');
  const level = c.get<string>('notifications', 'errors');
  return {
    notifications: level === 'all' || level === 'none' ? level : 'errors',
    credentialsFile: c.get<string>('credentialsFile', '') || process.env.LANES_CREDENTIALS || '',
    socket: c.get<string>('socket', '') || defaultSocketPath(),
    lanesdPath: c.get<string>('lanesdPath', '') || 'lanesd',
    guiPath: c.get<string>('guiPath', '') || 'lanes-gui',
    stopGraceSeconds: Math.max(0, c.get<number>('stopGraceSeconds', 3)),
  };
}
