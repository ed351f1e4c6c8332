import { nullTranslator } from '@jupyterlab/translation';

import { elapsedLabel, statusLabel } from '../labels';
import { fakeTranslator } from './fakes';

const english = nullTranslator.load('codelab_ext');

describe('labels', () => {
  it('names every status the panel can show, and keeps unknown codes', () => {
    expect(statusLabel(english, 'RUNNING')).toBe('Running');
    expect(statusLabel(english, 'CREATE_FAILED')).toBe('Creation failed');
    expect(statusLabel(english, 'SOMETHING_NEW')).toBe('SOMETHING_NEW');
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
