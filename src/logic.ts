/**
 * Pure helpers of the CodeLab panel: image grouping and search, lease and step
 * arithmetic. The rules stay on the server (share URLs, image categories, status
 * classes, the SSH command): these only arrange what it answers. No JupyterLab,
 * no I/O: the model and the components share them and jest tests them directly.
 */
import {
  IImage,
  IInstance,
  ILease,
  ImageCategory,
  IStep,
  StatusClass
} from './tokens';

export type { ImageCategory } from './tokens';

/* --------------------------------------------------------------------- images */

/** The order of the groups of the picker. */
export const CATEGORY_ORDER: ImageCategory[] = ['CPU', 'GPU', 'ASCEND'];

/**
 * The group an image is listed in: the server's `category` (its `image_category` rule).
 * An image without one, or with a category this panel does not know, is listed with CPU.
 */
export function imageCategory(image: IImage): ImageCategory {
  const category = (image.category ?? '').toUpperCase() as ImageCategory;
  return CATEGORY_ORDER.includes(category) ? category : 'CPU';
}

/** `x86_64`, `aarch64`, or whatever the server sent (never crash on new values). */
export function archLabel(arch: string | null | undefined): string | null {
  if (!arch) {
    return null;
  }
  const lower = arch.trim().toLowerCase();
  if (lower === 'x86_64' || lower === 'amd64') {
    return 'x86_64';
  }
  if (lower === 'aarch64' || lower === 'arm64') {
    return 'aarch64';
  }
  return arch;
}

/** Whether an image offers SSH access. */
export function offersSsh(image: IImage | null | undefined): boolean {
  return (image?.dev_services ?? []).some(s => s.toUpperCase() === 'SSH');
}

/** The display name of an image: `name:tag`. */
export function imageLabel(image: IImage | null | undefined): string {
  if (!image) {
    return '';
  }
  return image.tag ? `${image.name}:${image.tag}` : image.name;
}

/**
 * The id of the default image: the one the server marks `default` (the image
 * `POST open` opens when it names none; the server's rule, `opening.py`), or
 * null when it marks none.
 */
export function defaultImageId(images: IImage[]): string | null {
  return images.find(image => image.default === true)?.id ?? null;
}

/**
 * The image a setting or a deep link names: its id, its `name:tag`, or its
 * name (the first of that name in the catalogue).
 */
export function findImage(
  images: IImage[],
  reference: string | null | undefined
): IImage | null {
  const ref = (reference ?? '').trim();
  if (!ref) {
    return null;
  }
  return (
    images.find(image => image.id === ref) ??
    images.find(image => imageLabel(image) === ref) ??
    images.find(image => image.name === ref) ??
    null
  );
}

export interface IImageGroup {
  category: ImageCategory;
  images: IImage[];
}

/** Lower case without `_` and `-`: `py_3.10`, `py-3.10` and `Py3.10` read the same. */
function searchForm(text: string): string {
  return text.toLowerCase().replace(/[_-]+/g, '');
}

/**
 * Whether an image matches every word of a search text, each word found in
 * its name, tag, description, architecture, category or services (`SSH`,
 * `JUPYTERLAB`), `_` and `-` ignored. Display-only filtering: the server
 * filters nothing by these words.
 */
export function matchesSearch(image: IImage, search: string): boolean {
  const words = search.split(/\s+/).map(searchForm).filter(Boolean);
  if (!words.length) {
    return true;
  }
  const haystack = searchForm(
    [
      image.name,
      image.tag,
      image.description,
      image.arch,
      archLabel(image.arch),
      imageCategory(image),
      ...(image.resource_categories ?? []),
      ...(image.dev_services ?? [])
    ]
      .filter(Boolean)
      .join(' ')
  );
  return words.every(word => haystack.includes(word));
}

/**
 * Filter images by a search text (see `matchesSearch`) and group them
 * CPU / GPU / Ascend, the default image first in its group.
 */
export function groupImages(
  images: IImage[],
  search: string,
  defaultId: string | null
): IImageGroup[] {
  const matches = (image: IImage) => matchesSearch(image, search);
  const groups: IImageGroup[] = [];
  for (const category of CATEGORY_ORDER) {
    const list = images
      .filter(image => imageCategory(image) === category && matches(image))
      .sort((a, b) => Number(b.id === defaultId) - Number(a.id === defaultId));
    if (list.length) {
      groups.push({ category, images: list });
    }
  }
  return groups;
}

/* ---------------------------------------------------------------------- lease */

export const HOUR_MS = 3_600_000;

/** The lease lengths the Extend picker may offer, in hours (counted from now). */
export const EXTEND_HOURS = [1, 2, 3, 4, 6, 8, 12, 24, 48, 72];

/**
 * The Extend choices within the lease bounds the server enforces (`GET status` `lease`);
 * all of `EXTEND_HOURS` when the server did not say.
 */
export function extendChoices(
  bounds: { min_ms: number; max_ms: number } | null | undefined
): number[] {
  if (!bounds) {
    return [...EXTEND_HOURS];
  }
  return EXTEND_HOURS.filter(
    h => h * HOUR_MS >= bounds.min_ms && h * HOUR_MS <= bounds.max_ms
  );
}

/**
 * The epoch milliseconds at which the instance stops.
 *
 * `expires_at` (absolute) is preferred; then `remaining_ms` counted from when
 * the answer arrived; then `create_at + duration` (the documented rule).
 */
export function leaseDeadline(
  lease: ILease | null | undefined,
  receivedAt: number
): number | null {
  if (!lease || lease.enable === false) {
    return null;
  }
  if (typeof lease.expires_at === 'number') {
    return lease.expires_at;
  }
  if (typeof lease.remaining_ms === 'number') {
    return receivedAt + lease.remaining_ms;
  }
  if (
    typeof lease.create_at === 'number' &&
    typeof lease.duration === 'number'
  ) {
    return lease.create_at + lease.duration;
  }
  return null;
}

/** `h:mm:ss` (or `m:ss` under an hour); negative durations show as 0:00. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  return hours > 0
    ? `${hours}:${pad(minutes)}:${pad(seconds)}`
    : `${minutes}:${pad(seconds)}`;
}

/* ---------------------------------------------------------------------- steps */

/** The four start-up steps of ModelArts, in order. */
export const STEP_NUMBERS = [1, 2, 3, 4] as const;

export type StepState = 'waiting' | 'active' | 'done' | 'failed';

/** What the progress list shows for one step. */
export interface IStepView {
  step: number;
  state: StepState;
  /** Upstream text, if any. */
  description: string;
  /** Milliseconds spent in the step, when known. */
  elapsedMs: number | null;
}

/** When the panel saw a step start and end (upstream sends no timestamps). */
export interface IStepTiming {
  start?: number;
  end?: number;
}

/** Map an upstream step status to the panel's four states, given the server's class of the instance status. */
export function stepState(
  step: IStep | undefined,
  statusClass: StatusClass
): StepState {
  const status = (step?.status ?? '').toUpperCase();
  if (status === 'COMPLETED') {
    return 'done';
  }
  if (status === 'FAILED') {
    return 'failed';
  }
  if (status === 'PROCESSING') {
    return statusClass === 'failed' ? 'failed' : 'active';
  }
  if (!step && statusClass === 'running') {
    return 'done';
  }
  return 'waiting';
}

/** Record when steps start and end, given a fresh instance snapshot. */
export function updateStepTimings(
  timings: Map<number, IStepTiming>,
  instance: IInstance,
  now: number,
  openedAt: number | null
): void {
  const progress = instance.action_progress ?? [];
  for (const number of STEP_NUMBERS) {
    const step = progress.find(s => s.step === number);
    const state = stepState(step, instance.status_class);
    const timing = timings.get(number) ?? {};
    if (state === 'active' && timing.start === undefined) {
      timing.start = now;
    }
    if ((state === 'done' || state === 'failed') && timing.end === undefined) {
      if (timing.start === undefined) {
        // It started and ended between two snapshots: it began when the previous one ended.
        const previous = timings.get(number - 1)?.end;
        timing.start = previous ?? openedAt ?? undefined;
      }
      if (timing.start !== undefined) {
        timing.end = now;
      }
    }
    timings.set(number, timing);
  }
}

/** The four steps as the progress list shows them. */
export function stepViews(
  instance: IInstance,
  timings: Map<number, IStepTiming>,
  now: number
): IStepView[] {
  const progress = instance.action_progress ?? [];
  return STEP_NUMBERS.map(number => {
    const step = progress.find(s => s.step === number);
    const state = stepState(step, instance.status_class);
    const timing = timings.get(number);
    let elapsedMs: number | null = null;
    if (timing?.start !== undefined) {
      if (state === 'active') {
        elapsedMs = now - timing.start;
      } else if (timing.end !== undefined) {
        elapsedMs = timing.end - timing.start;
      }
    }
    return {
      step: number,
      state,
      description: step?.description ?? '',
      elapsedMs
    };
  });
}
