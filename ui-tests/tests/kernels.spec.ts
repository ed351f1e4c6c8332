/**
 * A local notebook on the instance's kernel, in a real browser against JupyterLab on the
 * ModelArts emulator whose instance is served by a real Jupyter server
 * (CODELAB_EMULATOR_INSTANCE_SERVERS=1; see playwright.config.js): the instance is opened
 * from the panel, its kernel appears in the launcher as "<display name> (CodeLab)", a
 * notebook made from that card runs a cell on the instance (its working folder is the
 * instance's work folder, which holds the instance's sample notebook), and the panel
 * lists the notebook as running on the instance.
 */
import { expect, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';

import {
  ensureNone,
  expectAccessible,
  expectInView,
  instances,
  openPanel,
  setSidebarWidth,
  waitState
} from './support';

interface ISpecLite {
  name: string;
  spec: {
    display_name: string;
    metadata?: { codelab?: { instance_id?: string } };
  };
}

/** The server's CodeLab kernelspecs of the instance `id` (they appear once it runs). */
async function codelabSpecs(
  request: APIRequestContext,
  id: string
): Promise<ISpecLite[]> {
  const response = await request.get('/api/kernelspecs');
  expect(response.ok()).toBeTruthy();
  const specs: Record<string, ISpecLite> = (await response.json()).kernelspecs;
  return Object.values(specs).filter(
    s =>
      s.name.startsWith('codelab-') &&
      s.spec.metadata?.codelab?.instance_id === id
  );
}

test.describe('Run on CodeLab', () => {
  test.setTimeout(360_000);

  test('a notebook made from the launcher runs its cells on the instance', async ({
    page,
    request
  }) => {
    const status = await (await request.get('/codelab/status')).json();
    expect(status.emulator).toBe(true);
    await ensureNone(request);

    const panel = await openPanel(page);
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitState(panel, 'running');
    const running = (await instances(request)).find(i => i.status === 'RUNNING');
    expect(running).toBeTruthy();
    const id = running!.id;

    // the server lists the instance's kernels as its own kernelspecs
    let specs: ISpecLite[] = [];
    await expect
      .poll(
        async () => {
          specs = await codelabSpecs(request, id);
          return specs.length;
        },
        { timeout: 120_000, intervals: [1000] }
      )
      .toBeGreaterThan(0);
    const spec = specs.find(s => s.name === 'codelab-python3') ?? specs[0];
    const display = spec.spec.display_name;
    expect(display).toMatch(/ \(CodeLab\)$/);

    // the launcher shows it (JupyterLab reads the kernelspecs again by itself)
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('launcher:create');
    });
    const card = page
      .locator('.jp-LauncherCard[data-category="Notebook"]:visible')
      .filter({ hasText: display });
    await expect(card).toBeVisible({ timeout: 150_000 });
    await card.click();

    await expect(page.locator('.jp-NotebookPanel')).toBeVisible({
      timeout: 60_000
    });
    const kernelName = page.locator(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-KernelName'
    );
    await expect(kernelName.first()).toHaveText(display, { timeout: 60_000 });
    const session = async () =>
      page.evaluate(async () => {
        const sessions = window.jupyterapp.serviceManager.sessions;
        await sessions.refreshRunning();
        return Array.from(sessions.running()).map(s => s.kernel?.name ?? '');
      });
    await expect
      .poll(session, { timeout: 120_000, intervals: [1000] })
      .toContain(spec.name);

    await page.notebook.setCell(
      0,
      'code',
      "import os\nprint(os.path.realpath(os.getcwd()))\nprint('codelab-sample.ipynb' in os.listdir())"
    );
    await page.notebook.runCell(0);
    await expect
      .poll(async () => (await page.notebook.getCellTextOutput(0)) ?? [], {
        timeout: 120_000,
        intervals: [1000]
      })
      .toHaveLength(1);
    const [output] = (await page.notebook.getCellTextOutput(0))!;
    const [cwd, sample] = output.trim().split('\n');
    // the instance's work folder (<emulator data>/<instance id>/work), not the local root
    expect(cwd).toMatch(new RegExp(`/${id}/work$`));
    expect(sample).toBe('True');

    // the panel lists the notebook as running on the instance, in view at a 250 px sidebar
    await page.evaluate(async () => {
      await window.jupyterapp.commands.execute('launcher:create');
    });
    await expect(page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)')).toHaveCount(0);
    await openPanel(page);
    const section = panel.locator('[data-section="kernels"]');
    const item = section.getByRole('button', { name: /Untitled.*\.ipynb/ });
    await expect(item).toContainText(display, { timeout: 60_000 });
    await expect(item).toContainText('Notebook');
    await setSidebarWidth(page, 250);
    await item.scrollIntoViewIfNeeded();
    await expect(item).toBeInViewport({ ratio: 1 });
    expect((await section.boundingBox())!.width).toBeLessThanOrEqual(251);
    await expectAccessible(page, 'kernels light 250px');
    await page.theme.setDarkTheme();
    await expectAccessible(page, 'kernels dark 250px');
    await page.theme.setLightTheme();

    // a click brings the notebook back
    await item.click();
    await expect(page.locator('.jp-NotebookPanel:not(.lm-mod-hidden)')).toHaveCount(1);

    // its toolbar: the lease countdown and Extend, with the panel's Extend dialog
    const toolbar = page.locator(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-toolbar'
    );
    const timer = toolbar.getByRole('timer');
    const extend = toolbar.getByRole('button', { name: 'Extend' });
    await expect(timer).toHaveText(/^CodeLab \d+:\d\d(:\d\d)?$/);
    // beside the 250 px sidebar, light and dark: both whole in the viewport (not in the
    // toolbar's overflow menu), and no serious axe-core violation in the toolbar
    expect(Math.round((await panel.boundingBox())!.width)).toBeCloseTo(250, -1);
    const lease = '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeLab-notebookLease';
    for (const theme of ['light', 'dark']) {
      if (theme === 'dark') {
        await page.theme.setDarkTheme();
      }
      await expectInView(timer, extend);
      await expectAccessible(page, `notebook lease ${theme} 250px`, lease);
    }
    await page.theme.setLightTheme();
    await extend.click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Extend CodeLab');
    await dialog.getByRole('button', { name: 'Extend' }).click();
    await expect(
      page.locator('.jp-Notification-Toast-success', { hasText: 'CodeLab now stops at' })
    ).toBeVisible({ timeout: 60_000 });
  });
});
