/**
 * Which local notebooks and consoles run on the CodeLab instance's kernels: the
 * sessions whose kernelspec the server wrote for this instance
 * (`codelab-<remote name>`, `metadata.codelab.instance_id`; see
 * codelab_ext/kernels/specs.py). The panel only reads what the server lists.
 */
import { KernelSpec, Session } from '@jupyterlab/services';
import { ISignal } from '@lumino/signaling';

/** The prefix of the kernelspecs the server writes for instances. */
export const CODELAB_KERNEL_PREFIX = 'codelab-';

/** A local session on the instance's kernel. */
export interface IRunningHere {
  /** The session's path: the notebook's path, or the console's. */
  path: string;
  /** What the tab shows. */
  name: string;
  type: 'notebook' | 'console' | string;
  /** The kernelspec's display name, `<remote display name> (CodeLab)`. */
  kernel: string;
}

/** The instance a kernelspec runs on, or null when it is not a CodeLab one. */
export function specInstance(
  name: string,
  specs: KernelSpec.ISpecModels | null
): string | null {
  if (!name.startsWith(CODELAB_KERNEL_PREFIX)) {
    return null;
  }
  const codelab = specs?.kernelspecs[name]?.metadata?.codelab as
    { instance_id?: unknown } | undefined;
  return typeof codelab?.instance_id === 'string' ? codelab.instance_id : null;
}

/** The sessions on the kernels of instance `instanceId`, by path. */
export function runningOn(
  sessions: Iterable<Session.IModel>,
  specs: KernelSpec.ISpecModels | null,
  instanceId: string
): IRunningHere[] {
  const found: IRunningHere[] = [];
  for (const session of sessions) {
    const kernel = session.kernel?.name ?? '';
    if (!instanceId || specInstance(kernel, specs) !== instanceId) {
      continue;
    }
    found.push({
      path: session.path,
      name: session.name || session.path,
      type: session.type,
      kernel: specs?.kernelspecs[kernel]?.display_name ?? kernel
    });
  }
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Read the kernelspecs again whenever the instance starts or stops running: the
 * server adds or removes its kernels at that moment, and the launcher and the
 * kernel picker then show them without waiting for JupyterLab's own poll.
 */
export function followInstanceKernels(
  instanceChanged: ISignal<unknown, { status: string } | null>,
  kernelspecs: Pick<KernelSpec.IManager, 'refreshSpecs'>
): () => void {
  let wasRunning = false;
  const onChange = (_: unknown, instance: { status: string } | null) => {
    const running = instance?.status === 'RUNNING';
    if (running !== wasRunning) {
      wasRunning = running;
      void kernelspecs.refreshSpecs().catch(reason => {
        console.warn('codelab-ext: kernelspecs not refreshed', reason);
      });
    }
  };
  instanceChanged.connect(onChange);
  return () => {
    instanceChanged.disconnect(onChange);
  };
}
