/**
 * The panel laid out by the instance's state: what matters now on top.
 *
 * Pure (no JupyterLab, no I/O): the sidebar renders what `panelLayout` says
 * and jest checks the table directly.
 */
import { IInstance } from './tokens';

/** What the panel is about right now. */
export type PanelState =
  /** The server's status has not arrived yet (or could not be read). */
  | 'connecting'
  /** No usable credentials: the sign-in form. */
  | 'signed-out'
  /** Signed in, no instance: pick an image and open. */
  | 'none'
  /** Opening, creating or starting: the steps. */
  | 'starting'
  /** Running: status, countdown, Extend, Open, Stop, SSH. */
  | 'running'
  /** Stopping or deleting: the instance card while it winds down. */
  | 'stopping'
  /** Stopped (lease ended or stopped by the user): Start, or another image. */
  | 'stopped'
  /** Creation or start-up failed: the reason, Start, or another image. */
  | 'failed';

/** The blocks of the sidebar. */
export type SectionId = 'account' | 'launch' | 'progress' | 'instance' | 'ssh';

export interface IPanelLayout {
  state: PanelState;
  /** The blocks shown first, in order. The first holds the main action. */
  top: SectionId[];
  /** Shown folded under the top blocks ("Open another image"). */
  folded: SectionId[];
  /** Shown last (the account once signed in). */
  bottom: SectionId[];
}

/** What `panelState` needs to know. */
export interface IPanelFacts {
  /** Whether the server's status arrived. */
  statusLoaded: boolean;
  signedIn: boolean;
  /** The instance's status and the server's class of it, or null without an instance. */
  instance: Pick<IInstance, 'status' | 'status_class'> | null;
  /** Whether an open request is on its way. */
  opening: boolean;
}

/** The state of the panel for these facts. */
export function panelState(facts: IPanelFacts): PanelState {
  if (!facts.statusLoaded) {
    return 'connecting';
  }
  if (!facts.signedIn) {
    return 'signed-out';
  }
  const instance = facts.instance;
  const gone =
    !instance ||
    instance.status_class === 'unknown' ||
    instance.status.toUpperCase() === 'DELETED';
  if (gone) {
    return facts.opening ? 'starting' : 'none';
  }
  switch (instance.status_class) {
    case 'running':
      return 'running';
    case 'failed':
      return 'failed';
    case 'stopping':
      return 'stopping';
    case 'changing':
      return 'starting';
    default:
      // STOPPED, FROZEN and settled statuses ModelArts may add: can be started or replaced
      return 'stopped';
  }
}

const LAYOUTS: Record<PanelState, Omit<IPanelLayout, 'state'>> = {
  connecting: { top: ['account'], folded: [], bottom: [] },
  'signed-out': { top: ['account'], folded: [], bottom: [] },
  none: { top: ['launch'], folded: [], bottom: ['account'] },
  starting: { top: ['progress'], folded: [], bottom: ['account'] },
  running: {
    top: ['instance', 'ssh'],
    folded: ['launch'],
    bottom: ['account']
  },
  stopping: { top: ['instance'], folded: [], bottom: ['account'] },
  stopped: { top: ['instance'], folded: ['launch'], bottom: ['account'] },
  failed: { top: ['instance'], folded: ['launch'], bottom: ['account'] }
};

/** The blocks of the sidebar for these facts. */
export function panelLayout(facts: IPanelFacts): IPanelLayout {
  const state = panelState(facts);
  const layout = LAYOUTS[state];
  return {
    state,
    top: [...layout.top],
    folded: [...layout.folded],
    bottom: [...layout.bottom]
  };
}

/**
 * Whether entering `next` from `previous` should bring the top of the panel
 * into view: the user just asked for something (Open, Start) or the instance
 * changed what matters (it runs, it stopped, it failed).
 */
export function revealsTop(
  previous: PanelState | null,
  next: PanelState
): boolean {
  return (
    previous !== null &&
    previous !== 'connecting' &&
    previous !== next &&
    next !== 'connecting'
  );
}

/** `vscode://` link that opens the instance's home folder over Remote-SSH. */
export function vscodeRemoteUrl(alias: string): string {
  return `vscode://vscode-remote/ssh-remote+${encodeURIComponent(alias)}/home/ma-user/work`;
}

/** The `Host` of an OpenSSH block as the server rendered it (the alias to connect to). */
export function sshConfigAlias(
  block: string | null | undefined
): string | null {
  const match = /^Host\s+(\S+)\s*$/m.exec(block ?? '');
  return match ? match[1] : null;
}
