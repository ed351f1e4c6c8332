/**
 * Open in CodeLab from the file browser, in a real browser against JupyterLab on the
 * ModelArts emulator whose instance is served by a real Jupyter server
 * (CODELAB_EMULATOR_INSTANCE_SERVERS=1; see playwright.config.js): the notebook's folder
 * is linked and pushed by the Jupyter server, the instance opens at the notebook in a
 * new tab, and the Workspace section shows the link in the viewport at 1366x768 and at
 * a 250 px sidebar, light and dark, with no serious axe-core violation.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext } from '@playwright/test';
import * as path from 'path';

import {
  API,
  DOCS,
  emulator,
  expectAccessible,
  instances,
  openPanel,
  setSidebarWidth
} from './support';

const NOTEBOOK = JSON.stringify({
  cells: [
    {
      cell_type: 'markdown',
      metadata: {},
      source: ['# Trained on CodeLab']
    }
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5
});

/** A running instance (opened through the API), its id. */
async function runningInstance(request: APIRequestContext): Promise<string> {
  const url = await emulator(request);
  expect((await request.post(`${url}/_emulator/reset`, { data: {} })).ok()).toBeTruthy();
  expect((await request.post(`${API}/open`, { data: {} })).ok()).toBeTruthy();
  let id = '';
  await expect
    .poll(
      async () => {
        const running = (await instances(request)).find(i => i.status === 'RUNNING');
        id = running?.id ?? '';
        return id;
      },
      { timeout: 120_000, intervals: [500] }
    )
    .not.toBe('');
  return id;
}

/** Open in CodeLab on `folder`/train.ipynb from the file browser: the instance's tab opens at it. */
async function openInCodeLab(page: IJupyterLabPageFixture, folder: string): Promise<void> {
  await page.filebrowser.openDirectory(folder);
  const item = page.locator('.jp-DirListing-item[data-file-type="notebook"]', {
    hasText: 'train.ipynb'
  });
  await expect(item).toBeVisible();
  await item.click({ button: 'right' });
  const entry = page.getByRole('menuitem', { name: 'Open in CodeLab' });
  await expect(entry).toBeVisible();
  const popup = page.waitForEvent('popup');
  await entry.click();
  const tab = await popup;
  await tab.waitForURL(new RegExp(`/lab/tree/${folder}/train\\.ipynb\\?token=`), {
    timeout: 120_000
  });
  await tab.close();
}

test.describe('Open in CodeLab', () => {
  test.setTimeout(300_000);

  test('pushes a notebook from the file browser and opens the instance at it', async ({
    page,
    request
  }) => {
    const status = await (await request.get(`${API}/status`)).json();
    expect(status.emulator).toBe(true);
    const id = await runningInstance(request);

    await page.contents.createDirectory('demo');
    await page.contents.uploadContent(NOTEBOOK, 'text', 'demo/train.ipynb');
    await openInCodeLab(page, 'demo');

    // the server pushed the folder: nothing waits to be pushed any more
    const answer = await (await request.get(`${API}/instances/${id}/workspace`)).json();
    expect(answer.link.local).toBe('demo');
    expect(answer.link.remote).toBe('/home/ma-user/work/demo');
    expect(answer.job.state).toBe('done');
    expect(answer.job.result.pushed).toContain('train.ipynb');
    expect(answer.waiting.local).toEqual([]);

    // the Workspace section, in view at 1366x768 and at a 250 px sidebar, light and dark
    const panel = await openPanel(page);
    const section = panel.locator('[data-section="workspace"]');
    await expect(section.getByTestId('workspace-local')).toHaveText('demo');
    await expect(section.getByTestId('workspace-waiting')).toContainText('0 to push');
    await section.scrollIntoViewIfNeeded();
    for (const width of [320, 250]) {
      await setSidebarWidth(page, width);
      for (const name of ['Sync', 'Push', 'Pull']) {
        await expect(section.getByRole('button', { name, exact: true })).toBeInViewport({
          ratio: 1
        });
      }
      const box = (await section.boundingBox())!;
      expect(box.width).toBeLessThanOrEqual(width + 1);
      await expectAccessible(page, `workspace light ${width}px`);
    }
    await page.mouse.move(700, 400);
    await page.screenshot({ path: path.join(DOCS, 'panel-workspace.png') });
    await page.theme.setDarkTheme();
    await expectAccessible(page, 'workspace dark 250px');
    await page.theme.setLightTheme();
  });

  test('follows the instance the cloud has now, not one replaced behind the page', async ({
    page,
    request
  }) => {
    // the page loads while the account has one instance (the status bar counts its lease down,
    // the panel closed: no event stream); then the cloud replaces it, as a Stop and an open from
    // another machine do, or ModelArts' delete after 72 h unused, and the page is not told
    const first = await runningInstance(request);
    await page.contents.createDirectory('again');
    await page.contents.uploadContent(NOTEBOOK, 'text', 'again/train.ipynb');
    await page.reload();
    await expect(
      page.locator('#jp-main-statusbar .jp-CodeLab-statusItem[data-status="RUNNING"]')
    ).toBeVisible({ timeout: 60_000 });
    await expect(page.locator('#codelab-ext-panel')).toBeHidden();
    const second = await runningInstance(request);
    expect(second).not.toBe(first);

    await page.sidebar.openTab('filebrowser');
    await openInCodeLab(page, 'again');

    // linked and pushed on the instance that exists, and the panel follows it
    const answer = await (await request.get(`${API}/instances/${second}/workspace`)).json();
    expect(answer.link.local).toBe('again');
    expect(answer.job.state).toBe('done');
    const panel = await openPanel(page);
    const section = panel.locator('[data-section="workspace"]');
    await expect(section.getByTestId('workspace-local')).toHaveText('again');
    await expect(section.locator('.jp-CodeLab-error')).toHaveCount(0);
  });
});
