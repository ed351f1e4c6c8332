/**
 * What the Galata tests of the CodeLab sidebar share: the emulator's state through the REST API
 * and its admin routes, the panel's states, the sidebar width, "in the viewport", axe-core, and
 * the README screenshots.
 */
import AxeBuilder from '@axe-core/playwright';
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext, Locator, Page } from '@playwright/test';
import * as path from 'path';

export const API = '/codelab';
export const DEFAULT_IMAGE = 'notebook2.0-mul-kernel-cpu-cp36';
export const GPU_IMAGE = 'pytorch1.8-cuda10.2-cudnn7-ubuntu18.04';
export const DEMO_AK = 'CODELABEMULATORDEMO1';
export const DEMO_SK = 'codelabEmulatorDemoSecretKey000000000000';
export const DOCS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
/**
 * The folder the tests open in (Galata's \`tmpPath\`): "work", made by the server's config with the
 * demo's sample notebooks, so the file browser and launcher look the same in every screenshot
 * (Galata's default is a new folder named after each test).
 */
export const TIDY_FOLDER = 'work';
export const BUSY = ['INIT', 'CREATING', 'STARTING', 'STOPPING'];

export interface IInstanceLite {
  id: string;
  status: string;
  description?: string;
  image?: { id: string; name: string };
  update_at?: number;
}

export async function instances(request: APIRequestContext): Promise<IInstanceLite[]> {
  const response = await request.get(`${API}/instances`);
  expect(response.ok()).toBeTruthy();
  return (await response.json()).instances;
}

/** The embedded emulator's admin routes (its URL is the server's ModelArts endpoint). */
export async function emulator(request: APIRequestContext): Promise<string> {
  const response = await request.get(`${API}/status`);
  expect(response.ok()).toBeTruthy();
  return (await response.json()).modelarts_endpoint.replace(/\/$/, '');
}

/** No instance at all (the emulator forgets them). */
export async function ensureNone(request: APIRequestContext): Promise<void> {
  const url = await emulator(request);
  const response = await request.post(`${url}/_emulator/reset`, { data: {} });
  expect(response.ok()).toBeTruthy();
  await expect.poll(async () => (await instances(request)).length).toBe(0);
}

/** Wait until no instance is starting or stopping; return them. */
export async function settled(request: APIRequestContext): Promise<IInstanceLite[]> {
  let list: IInstanceLite[] = [];
  await expect
    .poll(
      async () => {
        list = await instances(request);
        return list.some(i => BUSY.includes(i.status));
      },
      { timeout: 90_000, intervals: [500] }
    )
    .toBe(false);
  return list;
}

/** An instance that exists but does not run (stop it through the API if needed). */
export async function ensureStopped(request: APIRequestContext): Promise<void> {
  let list = await settled(request);
  if (!list.length) {
    await ensureRunning(request);
    list = await settled(request);
  }
  for (const instance of list) {
    if (instance.status === 'RUNNING') {
      await request.post(`${API}/instances/${instance.id}/stop`);
    }
  }
  await settled(request);
}

/** A running instance with the default image (opened through the API if needed). */
export async function ensureRunning(request: APIRequestContext): Promise<void> {
  const list = await settled(request);
  const current = list.find(i => i.status === 'RUNNING');
  if (current?.image?.name === DEFAULT_IMAGE) {
    return;
  }
  const response = await request.post(`${API}/open`, {
    data: { image_id: await defaultImageId(request), switch: true }
  });
  expect(response.ok()).toBeTruthy();
  await expect
    .poll(async () => (await instances(request)).map(i => i.status), {
      timeout: 90_000,
      intervals: [500]
    })
    .toContain('RUNNING');
}

export async function defaultImageId(request: APIRequestContext): Promise<string> {
  const response = await request.get(`${API}/images`);
  const images: { id: string; name: string }[] = (await response.json())
    .images;
  const found = images.find(i => i.name === DEFAULT_IMAGE);
  expect(found).toBeTruthy();
  return found!.id;
}

export async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('codelab:show-panel');
  });
  const panel = page.locator('#codelab-ext-panel');
  await expect(panel).toBeVisible();
  await expect(panel.locator('.jp-CodeLab-body')).not.toHaveAttribute(
    'data-state',
    'connecting'
  );
  return panel;
}

/** Drag the left sidebar's edge until the CodeLab panel is `width` px wide. */
export async function setSidebarWidth(page: Page, width: number): Promise<void> {
  const panel = page.locator('#codelab-ext-panel');
  const handle = page
    .locator('#jp-main-split-panel > .lm-SplitPanel-handle')
    .first();
  for (let attempt = 0; attempt < 3; attempt++) {
    const box = (await panel.boundingBox())!;
    const grip = (await handle.boundingBox())!;
    const y = grip.y + grip.height / 2;
    const x = grip.x + grip.width / 2;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + (width - box.width), y, { steps: 5 });
    await page.mouse.up();
    const now = (await panel.boundingBox())!.width;
    if (Math.abs(now - width) <= 2) {
      return;
    }
  }
  expect(Math.round((await panel.boundingBox())!.width)).toBeCloseTo(width, -1);
}

/** Each locator is in the viewport, whole (not merely present in the page). */
export async function expectInView(...targets: Locator[]): Promise<void> {
  for (const target of targets) {
    await expect(target).toBeInViewport({ ratio: 1 });
  }
}

/** axe-core on the CodeLab panel (or another part, `include`): no serious or critical violation. */
export async function expectAccessible(
  page: Page,
  label: string,
  include = '#codelab-ext-panel'
): Promise<void> {
  const results = await new AxeBuilder({ page }).include(include).analyze();
  const bad = results.violations.filter(
    v => v.impact === 'serious' || v.impact === 'critical'
  );
  expect(
    bad.map(v => `${label}: ${v.id} (${v.impact}) ${v.nodes.map(n => n.target).join(' ')}`)
  ).toEqual([]);
  // the whole page has at most one banner landmark (JupyterLab's own top bar)
  const page_ = await new AxeBuilder({ page })
    .withRules(['landmark-no-duplicate-banner', 'landmark-unique'])
    .analyze();
  expect(page_.violations.map(v => v.id)).toEqual([]);
}

/** What changes from run to run: hidden in snapshots. */
export function volatile(page: IJupyterLabPageFixture): Locator[] {
  return [
    page.locator('.jp-CodeLab-countdown'),
    page.locator('.jp-CodeLab-stepTime'),
    page.locator('.jp-CodeLab-sshConfig'),
    page.locator('.jp-CodeLab-sshCommand'),
    page.locator('[data-section="instance"] .jp-CodeLab-facts'),
    page.locator('.jp-CodeLab-statusItem'),
    page.locator('.jp-CodeLab-launchFooter .jp-CodeLab-error')
  ];
}

export async function snapshot(
  page: IJupyterLabPageFixture,
  target: Locator,
  name: string
): Promise<void> {
  await expect(target).toHaveScreenshot(`${name}.png`, {
    mask: volatile(page)
  });
}

/** The README's picture of a state: the whole 1366x768 window. */
export async function readmeShot(page: Page, name: string): Promise<void> {
  await page.mouse.move(700, 400); // no hover effect in the panel
  await page.screenshot({ path: path.join(DOCS, `${name}.png`) });
}

export async function waitState(panel: Locator, state: string): Promise<void> {
  await expect(panel.locator('.jp-CodeLab-body')).toHaveAttribute(
    'data-state',
    state,
    { timeout: 90_000 }
  );
}
