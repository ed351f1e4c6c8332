/**
 * Pure helpers of the CodeLab panel: URL validation, image grouping, lease
 * and step arithmetic (the SSH command is the server's). No JupyterLab, no
 * I/O: the model and the components share them and jest tests them directly.
 */
import { FAILED_STATUSES, IImage, IInstance, ILease, IStep } from './tokens';

/* ------------------------------------------------------------------ share URL */

/** The outcome of validating the shared notebook URL field. */
export type ShareUrlCheck =
  | { kind: 'empty' }
  | { kind: 'invalid'; reason: 'syntax' | 'scheme' | 'host' | 'spaces' }
  | {
      kind: 'ok';
      /** The URL that will be sent to the server. */
      url: string;
      /** True when a GitHub page URL was turned into its raw address. */
      converted: boolean;
      /** True when the path looks like a notebook (`.ipynb`). */
      looksLikeNotebook: boolean;
    };

const GITHUB_BLOB = /^\/([^/]+)\/([^/]+)\/(?:blob|raw)\/(.+)$/;
const GIST_PAGE = /^\/([^/]+)\/([0-9a-f]+)\/?$/i;

/**
 * Validate a shared notebook URL as the user types.
 *
 * Only http(s) URLs with a host are accepted. GitHub page URLs
 * (`github.com/o/r/blob/ref/path.ipynb`) and gist pages
 * (`gist.github.com/user/id`) are turned into the raw addresses ModelArts
 * can download.
 */
export function checkShareUrl(input: string): ShareUrlCheck {
  const text = input.trim();
  if (!text) {
    return { kind: 'empty' };
  }
  if (/\s/.test(text)) {
    return { kind: 'invalid', reason: 'spaces' };
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { kind: 'invalid', reason: 'syntax' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { kind: 'invalid', reason: 'scheme' };
  }
  if (!url.hostname || !/^[A-Za-z0-9.\-[\]:]+$/.test(url.hostname)) {
    return { kind: 'invalid', reason: 'host' };
  }

  let converted = false;
  const host = url.hostname.toLowerCase();
  if (host === 'github.com' || host === 'www.github.com') {
    const match = GITHUB_BLOB.exec(url.pathname);
    if (match) {
      url = new URL(
        `https://raw.githubusercontent.com/${match[1]}/${match[2]}/${match[3]}`
      );
      converted = true;
    }
  } else if (host === 'gist.github.com') {
    const match = GIST_PAGE.exec(url.pathname);
    if (match) {
      url = new URL(
        `https://gist.githubusercontent.com/${match[1]}/${match[2]}/raw`
      );
      converted = true;
    }
  }
  const href = url.href;
  return {
    kind: 'ok',
    url: href,
    converted,
    looksLikeNotebook:
      /\.ipynb$/i.test(url.pathname) || host === 'gist.github.com'
  };
}

/* --------------------------------------------------------------------- images */

export type ImageCategory = 'CPU' | 'GPU' | 'ASCEND';

export const CATEGORY_ORDER: ImageCategory[] = ['CPU', 'GPU', 'ASCEND'];

const ASCEND_WORDS = ['ascend', 'npu', 'cann'];
const GPU_WORDS = ['gpu', 'cuda', 'cudnn', 'nvidia', 'tensorrt'];

/** The group an image is listed in (same rule as the server's `image_category`). */
export function imageCategory(image: IImage): ImageCategory {
  const categories = new Set(
    (image.resource_categories ?? []).map(c => c.trim().toUpperCase())
  );
  if (categories.has('ASCEND') || categories.has('NPU')) {
    return 'ASCEND';
  }
  if (categories.has('GPU')) {
    return 'GPU';
  }
  if (categories.has('CPU')) {
    return 'CPU';
  }
  const words = (image.name ?? '')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  const startsWithAny = (list: string[]) =>
    words.some(word => list.some(prefix => word.startsWith(prefix)));
  if (startsWithAny(ASCEND_WORDS)) {
    return 'ASCEND';
  }
  if (startsWithAny(GPU_WORDS)) {
    return 'GPU';
  }
  return 'CPU';
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
 * The id of the default image: the one the server marks as default, else the
 * multi-kernel CPU image, else the first CPU image of the catalogue.
 */
export function defaultImageId(images: IImage[]): string | null {
  const marked = images.find(
    image => (image as IImage & { default?: unknown }).default === true
  );
  if (marked) {
    return marked.id;
  }
  const multiKernel = images.find(
    image =>
      imageCategory(image) === 'CPU' && /mul(ti)?-?kernel/i.test(image.name)
  );
  if (multiKernel) {
    return multiKernel.id;
  }
  return images.find(image => imageCategory(image) === 'CPU')?.id ?? null;
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

/** Hours offered by the Extend picker (ModelArts accepts 1 h to 72 h, counted from now). */
export const EXTEND_HOURS = [1, 2, 3, 4, 6, 8, 12, 24, 48, 72];

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

/** Map an upstream step status to the panel's four states. */
export function stepState(
  step: IStep | undefined,
  instanceStatus: string
): StepState {
  const status = (step?.status ?? '').toUpperCase();
  if (status === 'COMPLETED') {
    return 'done';
  }
  if (status === 'FAILED') {
    return 'failed';
  }
  if (status === 'PROCESSING') {
    return FAILED_STATUSES.has(instanceStatus) ? 'failed' : 'active';
  }
  if (!step && instanceStatus === 'RUNNING') {
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
    const state = stepState(step, instance.status);
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
    const state = stepState(step, instance.status);
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
