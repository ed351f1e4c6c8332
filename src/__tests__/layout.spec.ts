import {
  IPanelFacts,
  panelLayout,
  panelState,
  revealsTop,
  sshConfigAlias,
  vscodeRemoteUrl
} from '../layout';
import { findImage, matchesSearch } from '../logic';
import { IImage, IInstance, StatusClass } from '../tokens';

const signedIn: IPanelFacts = {
  statusLoaded: true,
  signedIn: true,
  instance: null,
  opening: false
};

/** An instance as the server describes it: its status and the server's class of it. */
const at = (
  status: string,
  status_class: StatusClass
): Pick<IInstance, 'status' | 'status_class'> => ({ status, status_class });

describe('panelState', () => {
  it.each([
    [{ ...signedIn, statusLoaded: false }, 'connecting'],
    [{ ...signedIn, signedIn: false }, 'signed-out'],
    [signedIn, 'none'],
    [{ ...signedIn, instance: at('DELETED', 'stopped') }, 'none'],
    [{ ...signedIn, opening: true }, 'starting'],
    [{ ...signedIn, instance: at('INIT', 'changing') }, 'starting'],
    [{ ...signedIn, instance: at('CREATING', 'changing') }, 'starting'],
    [{ ...signedIn, instance: at('STARTING', 'changing') }, 'starting'],
    [{ ...signedIn, instance: at('RUNNING', 'running') }, 'running'],
    [
      { ...signedIn, instance: at('RUNNING', 'running'), opening: true },
      'running'
    ],
    [{ ...signedIn, instance: at('STOPPING', 'stopping') }, 'stopping'],
    [{ ...signedIn, instance: at('STOPPED', 'stopped') }, 'stopped'],
    [{ ...signedIn, instance: at('FROZEN', 'stopped') }, 'stopped'],
    [{ ...signedIn, instance: at('SOMETHING_NEW', 'stopped') }, 'stopped'],
    [{ ...signedIn, instance: at('RESIZING', 'changing') }, 'starting'],
    [{ ...signedIn, instance: at('DELETING', 'stopping') }, 'stopping'],
    // the class decides, not the status word: the panel keeps no status list of its own
    [{ ...signedIn, instance: at('SOMETHING_NEW', 'failed') }, 'failed'],
    [{ ...signedIn, instance: at('', 'unknown') }, 'none'],
    [{ ...signedIn, instance: at('START_FAILED', 'failed') }, 'failed'],
    [{ ...signedIn, instance: at('CREATE_FAILED', 'failed') }, 'failed'],
    [{ ...signedIn, instance: at('ERROR', 'failed') }, 'failed']
  ] as [IPanelFacts, string][])('%j is %s', (facts, state) => {
    expect(panelState(facts)).toBe(state);
  });
});

/** What the server answers as `status_class` for the statuses these tests use. */
const CLASSES: Record<string, StatusClass> = {
  CREATING: 'changing',
  RUNNING: 'running',
  STOPPED: 'stopped',
  START_FAILED: 'failed',
  CREATE_FAILED: 'failed'
};

describe('panelLayout', () => {
  const layout = (status: string | null, extra = {}) =>
    panelLayout({
      ...signedIn,
      instance: status ? at(status, CLASSES[status]) : null,
      ...extra
    });

  it('puts the picker and Open first with no instance, the account last', () => {
    expect(layout(null)).toEqual({
      state: 'none',
      top: ['launch'],
      folded: [],
      bottom: ['account']
    });
  });

  it('puts the steps first while starting, and nothing to open meanwhile', () => {
    const starting = layout('CREATING');
    expect(starting.top).toEqual(['progress']);
    expect(starting.folded).toEqual([]);
    expect(layout(null, { opening: true }).top).toEqual(['progress']);
  });

  it('puts the instance and SSH first when running, another image folded', () => {
    const running = layout('RUNNING');
    expect(running.top).toEqual(['instance', 'ssh']);
    expect(running.folded).toEqual(['launch']);
    expect(running.top).not.toContain('progress');
  });

  it('shows no steps once stopped or failed, the instance card with another image folded', () => {
    for (const status of ['STOPPED', 'START_FAILED', 'CREATE_FAILED']) {
      const view = layout(status);
      expect(view.top).toEqual(['instance']);
      expect(view.folded).toEqual(['launch']);
      expect([...view.top, ...view.folded, ...view.bottom]).not.toContain(
        'progress'
      );
    }
  });

  it('shows only the account before sign-in', () => {
    expect(layout(null, { signedIn: false })).toEqual({
      state: 'signed-out',
      top: ['account'],
      folded: [],
      bottom: []
    });
  });

  it('returns fresh arrays (callers may not change the table)', () => {
    const a = layout('RUNNING');
    a.top.push('account');
    expect(layout('RUNNING').top).toEqual(['instance', 'ssh']);
  });
});

describe('revealsTop', () => {
  it('scrolls to the top block when the state changes, not on first render', () => {
    expect(revealsTop(null, 'none')).toBe(false);
    expect(revealsTop('none', 'none')).toBe(false);
    expect(revealsTop('none', 'starting')).toBe(true);
    expect(revealsTop('starting', 'running')).toBe(true);
    expect(revealsTop('running', 'connecting')).toBe(false);
    // the first answer after loading is not a change the user made
    expect(revealsTop('connecting', 'running')).toBe(false);
  });
});

describe('SSH helpers', () => {
  it('reads the alias the server rendered', () => {
    expect(
      sshConfigAlias('# CodeLab x\nHost codelab-cn-north-4\n    Port 1\n')
    ).toBe('codelab-cn-north-4');
    expect(sshConfigAlias('')).toBeNull();
    expect(sshConfigAlias(null)).toBeNull();
  });

  it('builds the VS Code Remote-SSH link', () => {
    expect(vscodeRemoteUrl('codelab-cn-north-4')).toBe(
      'vscode://vscode-remote/ssh-remote+codelab-cn-north-4/home/ma-user/work'
    );
  });
});

describe('image search', () => {
  const image: IImage = {
    id: 'img-1',
    name: 'pytorch1.8-cuda10.2-cudnn7-ubuntu18.04',
    tag: 'v2',
    description: 'PyTorch with py_3.10 and CUDA',
    arch: 'x86_64',
    resource_categories: ['GPU'],
    dev_services: ['NOTEBOOK', 'SSH']
  };

  it.each([
    'ssh',
    'SSH gpu',
    'py3.10',
    'py_3.10',
    'PY-3.10',
    'pytorch cuda',
    'x86_64',
    'x86-64',
    'v2',
    'notebook',
    'ubuntu18.04 ssh',
    ''
  ])('finds it with %j', search => {
    expect(matchesSearch(image, search)).toBe(true);
  });

  it.each(['ascend', 'ssh ascend', 'py3.9', 'aarch64'])(
    'does not find it with %j (every word must match)',
    search => {
      expect(matchesSearch(image, search)).toBe(false);
    }
  );

  it('finds the image a setting names: id, name:tag or name', () => {
    const other = { ...image, id: 'img-2', tag: 'v1' };
    const images = [image, other];
    expect(findImage(images, 'img-2')).toBe(other);
    expect(findImage(images, `${image.name}:v1`)).toBe(other);
    expect(findImage(images, image.name)).toBe(image);
    expect(findImage(images, ' ')).toBeNull();
    expect(findImage(images, 'nothing')).toBeNull();
  });
});
