import {
  archLabel,
  defaultImageId,
  EXTEND_HOURS,
  extendChoices,
  formatCountdown,
  groupImages,
  imageCategory,
  IStepTiming,
  leaseDeadline,
  stepState,
  stepViews,
  updateStepTimings
} from '../logic';
import { IMAGES, instance } from './fakes';

describe('images', () => {
  it('groups by category in CPU, GPU, Ascend order, the default first', () => {
    const groups = groupImages(IMAGES, '', 'cpu-default');
    expect(groups.map(g => g.category)).toEqual(['CPU', 'GPU', 'ASCEND']);
    expect(groups[0].images.map(i => i.id)).toEqual(['cpu-default', 'cpu-2']);
  });

  it('searches name, tag, arch and category', () => {
    expect(
      groupImages(IMAGES, 'aarch64', null).flatMap(g => g.images.map(i => i.id))
    ).toEqual(['cpu-2', 'ascend-1']);
    expect(groupImages(IMAGES, 'pytorch gpu', null)).toHaveLength(1);
    expect(groupImages(IMAGES, 'nothing-like-this', null)).toEqual([]);
  });

  it('takes the default image the server marks, guessing none from names', () => {
    expect(defaultImageId(IMAGES)).toBe('cpu-default');
    expect(
      defaultImageId([{ ...IMAGES[3] }, { ...IMAGES[0], default: true }])
    ).toBe('gpu-1');
    // a multi-kernel CPU image the server did not mark is not the default here
    expect(
      defaultImageId(IMAGES.map(image => ({ ...image, default: false })))
    ).toBeNull();
    expect(defaultImageId([])).toBeNull();
  });

  it("lists an image in the server's category, never guessing one from its name", () => {
    expect(
      imageCategory({ id: 'x', name: 'cuda11-thing', category: 'CPU' })
    ).toBe('CPU');
    expect(imageCategory({ id: 'x', name: 'plain', category: 'ASCEND' })).toBe(
      'ASCEND'
    );
    // no category (an older server) or one this panel does not know: listed with CPU
    expect(imageCategory({ id: 'x', name: 'cuda11-thing' })).toBe('CPU');
    expect(
      imageCategory({ id: 'x', name: 'x', category: 'FPGA' as never })
    ).toBe('CPU');
  });

  it('normalises both arch spellings and keeps unknown ones', () => {
    expect(archLabel('X86_64')).toBe('x86_64');
    expect(archLabel('AARCH64')).toBe('aarch64');
    expect(archLabel('riscv64')).toBe('riscv64');
    expect(archLabel(null)).toBeNull();
  });
});

describe('lease arithmetic', () => {
  it('offers the Extend choices within the bounds the server enforces', () => {
    expect(
      extendChoices({ min_ms: 2 * 3_600_000, max_ms: 24 * 3_600_000 })
    ).toEqual([2, 3, 4, 6, 8, 12, 24]);
    expect(extendChoices(undefined)).toEqual(EXTEND_HOURS);
  });

  it('remaining time is create_at + duration - now', () => {
    expect(
      leaseDeadline({ create_at: 1_000, duration: 3_600_000, enable: true }, 99)
    ).toBe(3_601_000);
  });

  it('prefers expires_at, then remaining_ms from when it arrived', () => {
    expect(leaseDeadline({ expires_at: 5, remaining_ms: 10 }, 100)).toBe(5);
    expect(leaseDeadline({ remaining_ms: 10 }, 100)).toBe(110);
  });

  it('has no deadline for a disabled or missing lease', () => {
    expect(
      leaseDeadline({ create_at: 1, duration: 2, enable: false }, 0)
    ).toBeNull();
    expect(leaseDeadline(null, 0)).toBeNull();
  });

  it('formats countdowns', () => {
    expect(formatCountdown(3_600_000)).toBe('1:00:00');
    expect(formatCountdown(599_999)).toBe('9:59');
    expect(formatCountdown(-5)).toBe('0:00');
  });
});

describe('steps', () => {
  it('maps upstream states to waiting / active / done / failed', () => {
    expect(stepState({ step: 1, status: 'WAITING' }, 'changing')).toBe(
      'waiting'
    );
    expect(stepState({ step: 1, status: 'PROCESSING' }, 'changing')).toBe(
      'active'
    );
    expect(stepState({ step: 1, status: 'COMPLETED' }, 'changing')).toBe(
      'done'
    );
    expect(stepState({ step: 1, status: 'FAILED' }, 'changing')).toBe('failed');
    expect(stepState({ step: 1, status: 'PROCESSING' }, 'failed')).toBe(
      'failed'
    );
    expect(stepState(undefined, 'running')).toBe('done');
    expect(stepState({ step: 1, status: 'SOMETHING_NEW' }, 'changing')).toBe(
      'waiting'
    );
  });

  it('measures the time spent in each step', () => {
    const timings = new Map<number, IStepTiming>();
    const first = instance();
    updateStepTimings(timings, first, 1_000, 0);
    const second = instance({
      action_progress: [
        { step: 1, status: 'COMPLETED' },
        { step: 2, status: 'COMPLETED' },
        { step: 3, status: 'PROCESSING' },
        { step: 4, status: 'WAITING' }
      ]
    });
    updateStepTimings(timings, second, 4_000, 0);
    const views = stepViews(second, timings, 9_000);
    expect(views.map(v => v.state)).toEqual([
      'done',
      'done',
      'active',
      'waiting'
    ]);
    // step 1: 1s → 4s; step 2 started when step 1 ended (both seen done at 4s); step 3: 4s → now
    expect(views.map(v => v.elapsedMs)).toEqual([3_000, 0, 5_000, null]);
  });
});
