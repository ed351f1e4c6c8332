/**
 * The built extension loads its styles through `style/index.js` (package.json `styleModule`),
 * `style/index.css` is what `style` names: both must bring every stylesheet of `style/`
 * (a sheet only one of them imports is missing from the panel or the notebook toolbar).
 */
import * as fs from 'fs';
import * as path from 'path';

const STYLE = path.resolve(__dirname, '..', '..', 'style');

describe('style', () => {
  const sheets = fs
    .readdirSync(STYLE)
    .filter(name => name.endsWith('.css') && name !== 'index.css')
    .sort();

  it('has the stylesheets of the panel, the workspace and the kernels', () => {
    expect(sheets).toEqual(
      expect.arrayContaining(['base.css', 'kernels.css', 'workspace.css'])
    );
  });

  it('imports every stylesheet from index.js and from index.css', () => {
    const js = fs.readFileSync(path.join(STYLE, 'index.js'), 'utf-8');
    const css = fs.readFileSync(path.join(STYLE, 'index.css'), 'utf-8');
    const fromJs = [...js.matchAll(/import '\.\/([^']+\.css)'/g)].map(
      m => m[1]
    );
    const fromCss = [...css.matchAll(/@import url\('([^']+\.css)'\)/g)].map(
      m => m[1]
    );
    expect(fromJs.sort()).toEqual(sheets);
    expect(fromCss.sort()).toEqual(sheets);
  });
});
