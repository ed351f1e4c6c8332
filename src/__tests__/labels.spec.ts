import { nullTranslator } from '@jupyterlab/translation';

import { elapsedLabel, statusLabel } from '../labels';
import { fakeTranslator } from './fakes';

const english = nullTranslator.load('codelab_ext');

describe('labels', () => {
  it('names every status the panel can show, and reads unknown codes as words', () => {
    expect(statusLabel(english, 'RUNNING')).toBe('Running');
    expect(statusLabel(english, 'INIT')).toBe('Preparing');
    expect(statusLabel(english, 'SNAPSHOTTING')).toBe('Saving a snapshot');
    expect(statusLabel(english, 'FROZEN')).toBe('Frozen (account in arrears)');
    expect(statusLabel(english, 'CREATE_FAILED')).toBe('Creation failed');
    expect(statusLabel(english, 'start_failed')).toBe('Start failed');
    expect(statusLabel(english, 'SOMETHING_NEW')).toBe('something new');
    const zh = fakeTranslator('zh-CN').load('codelab_ext');
    expect(statusLabel(zh, 'STOPPED')).toBe('[zh-CN] Stopped');
  });

  it('formats elapsed times through the bundle', () => {
    expect(elapsedLabel(english, 4_400)).toBe('4 s');
    expect(elapsedLabel(english, 65_000)).toBe('1 min 05 s');
    const zh = fakeTranslator('zh-CN').load('codelab_ext');
    expect(elapsedLabel(zh, 125_000)).toBe('[zh-CN] 2 min 05 s');
  });
});
