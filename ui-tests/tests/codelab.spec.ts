/**
 * The CodeLab sidebar in a real browser, against JupyterLab on the ModelArts emulator.
 */
import { expect, IJupyterLabPageFixture, test } from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';
import * as path from 'path';

const API = '/codelab';
const DEFAULT_IMAGE = 'notebook2.0-mul-kernel-cpu-cp36';
const GPU_IMAGE = 'pytorch1.8-cuda10.2-cudnn7-ubuntu18.04';
const DEMO_AK = 'CODELABEMULATORDEMO1';
const DEMO_SK = 'codelabEmulatorDemoSecretKey000000000000';
const DOCS = path.resolve(__dirname, '..', '..', 'docs', 'screenshots');
const BUSY = ['INIT', 'CREATING', 'STARTING', 'STOPPING'];

interface IInstanceLite {
  id: string;
  status: string;
  description?: string;
  image?: { id: string; name: string };
}

async function instances(request: APIRequestContext): Promise<IInstanceLite[]> {
  const response = await request.get(`${API}/instances`);
  expect(response.ok()).toBeTruthy();
  return (await response.json()).instances;
}

/** Wait until no instance is starting or stopping; return them. */
async function settled(request: APIRequestContext): Promise<IInstanceLite[]> {
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

/** No running instance (stop it through the API if needed). */
async function ensureStopped(request: APIRequestContext): Promise<void> {
  for (const instance of await settled(request)) {
    if (instance.status === 'RUNNING') {
      await request.post(`${API}/instances/${instance.id}/stop`);
    }
  }
  await settled(request);
}

/** A running instance with the default image (opened through the API if needed). */
async function ensureRunning(request: APIRequestContext): Promise<void> {
  const list = await settled(request);
  const current = list.find(i => i.status === 'RUNNING');
  if (current?.image?.name === DEFAULT_IMAGE) {
    return;
  }
  const response = await request.post(`${API}/open`, {
    data: { switch: true }
  });
  expect(response.ok()).toBeTruthy();
  await expect
    .poll(async () => (await instances(request)).map(i => i.status), {
      timeout: 90_000,
      intervals: [500]
    })
    .toContain('RUNNING');
}

async function openPanel(page: IJupyterLabPageFixture): Promise<Locator> {
  await page.evaluate(async () => {
    await window.jupyterapp.commands.execute('codelab:show-panel');
  });
  const panel = page.locator('#codelab-ext-panel');
  await expect(panel).toBeVisible();
  await expect(panel.getByText('Access key')).toBeVisible();
  return panel;
}

/** What changes from run to run: hidden in snapshots. */
function volatile(page: IJupyterLabPageFixture): Locator[] {
  return [
    page.locator('.jp-CodeLab-countdown'),
    page.locator('.jp-CodeLab-stepTime'),
    page.locator('.jp-CodeLab-sshConfig'),
    page.locator('[data-section="instance"] dd:nth-of-type(2)'),
    page.locator('.jp-CodeLab-live')
  ];
}

async function snapshot(
  page: IJupyterLabPageFixture,
  target: Locator,
  name: string
): Promise<void> {
  await expect(target).toHaveScreenshot(`${name}.png`, {
    mask: volatile(page)
  });
}

async function waitRunning(panel: Locator): Promise<void> {
  await expect(panel.locator('[data-status]')).toHaveAttribute(
    'data-status',
    'RUNNING',
    { timeout: 90_000 }
  );
}

test.describe('CodeLab sidebar', () => {
  test.use({ autoGoto: true });

  test('shows the account and the image picker, default image first', async ({
    page,
    request
  }) => {
    await ensureStopped(request);
    const panel = await openPanel(page);
    await expect(panel.getByText('CODE****EMO1')).toBeVisible();
    const groups = panel.locator('.jp-CodeLab-imageGroup legend');
    await expect(groups.first()).toContainText('CPU');
    const first = panel.locator('.jp-CodeLab-image').first();
    await expect(first).toContainText(DEFAULT_IMAGE);
    await expect(first.getByRole('radio')).toBeChecked();
    await expect(first).toContainText('default');

    await panel.getByLabel('Search images').fill('aarch64');
    await expect(panel.locator('.jp-CodeLab-image').first()).toContainText(
      'aarch64'
    );
    await panel.getByLabel('Search images').fill('');

    await snapshot(page, panel, 'panel-idle');
    await panel.screenshot({ path: path.join(DOCS, 'panel-idle.png') });
  });

  test('opens with the default image and sees all four steps complete', async ({
    page,
    request
  }) => {
    await ensureStopped(request);
    const panel = await openPanel(page);
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();

    const steps = panel.getByRole('list', { name: 'Start-up steps' });
    await expect(steps.getByRole('listitem')).toHaveCount(4);
    await page.waitForTimeout(300);
    await panel.screenshot({ path: path.join(DOCS, 'panel-starting.png') });

    await expect(steps.locator('[data-state="done"]')).toHaveCount(4, {
      timeout: 90_000
    });
    await waitRunning(panel);
    await expect(panel.getByText('All four steps are done.')).toBeVisible();
    await expect(panel.locator('[data-section="instance"]')).toContainText(
      DEFAULT_IMAGE
    );
    await expect(panel.getByRole('timer')).toHaveText(/^\d+:\d\d(:\d\d)?$/);
    await expect(
      panel.getByRole('link', { name: 'Open in new tab' })
    ).toHaveAttribute('href', /^http/);
    await expect(page.locator('.jp-CodeLab-statusItem')).toContainText(
      /CodeLab \d+:\d\d/
    );

    await snapshot(page, panel, 'panel-running');
    await panel.screenshot({ path: path.join(DOCS, 'panel-running.png') });

    // A reload reattaches to the same instance (from GET instances).
    await page.reload();
    const again = await openPanel(page);
    await waitRunning(again);
    await expect(again.locator('[data-section="instance"]')).toContainText(
      DEFAULT_IMAGE
    );
    await expect(again.locator('.jp-CodeLab-live')).toHaveAttribute(
      'data-connection',
      'live'
    );
  });

  test('copies the SSH config and the ssh command', async ({
    page,
    request,
    context
  }) => {
    await ensureRunning(request);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const panel = await openPanel(page);
    await waitRunning(panel);
    const config = panel.getByLabel('SSH config');
    await expect(config).toContainText('Host codelab');

    await panel.getByLabel('Identity file (your key pair .pem)').fill(
      '~/.ssh/KeyPair-test.pem'
    );
    await expect(config).toContainText('~/.ssh/KeyPair-test.pem');

    await panel.getByRole('button', { name: 'Copy SSH config' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toContain('Host codelab');
    expect(copied).toMatch(/Port \d+/);
    expect(copied).toContain('IdentityFile ~/.ssh/KeyPair-test.pem');
    expect(copied).toBe(await config.textContent());

    await panel.getByRole('button', { name: 'Copy ssh command' }).click();
    await expect
      .poll(() => page.evaluate(() => navigator.clipboard.readText()))
      .toMatch(/^ssh -i ~\/\.ssh\/KeyPair-test\.pem -p \d+ .* ma-user@/);

    await panel
      .locator('[data-section="ssh"]')
      .screenshot({ path: path.join(DOCS, 'panel-ssh.png') });
  });

  test('extends the lease with the hours picker', async ({ page, request }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitRunning(panel);
    await panel.getByLabel('Keep running for').selectOption('4');
    await panel.getByRole('button', { name: 'Extend' }).click();
    await expect(panel.getByRole('timer')).toHaveText(/^(3:59|4:00):\d\d$/);
    await expect(page.getByText(/CodeLab now stops at/)).toBeVisible();
  });

  test('asks before switching a running instance to another image (409)', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitRunning(panel);
    await panel.getByLabel('Search images').fill(GPU_IMAGE);
    await panel.locator('.jp-CodeLab-image', { hasText: GPU_IMAGE }).click();
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();

    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Switch CodeLab to another image?');
    await expect(dialog).toContainText('restarts that instance');
    await expect(dialog.locator('.jp-Dialog-content')).toHaveScreenshot(
      'dialog-switch.png'
    );
    await dialog
      .locator('.jp-Dialog-content')
      .screenshot({ path: path.join(DOCS, 'dialog-switch.png') });

    // Cancel: nothing changes.
    await dialog.getByRole('button', { name: 'Keep current instance' }).click();
    await expect(dialog).toHaveCount(0);
    await waitRunning(panel);
    expect(
      (await instances(request)).find(i => i.status === 'RUNNING')?.image?.name
    ).toBe(DEFAULT_IMAGE);

    // Accept: the instance restarts with the GPU image.
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await dialog.getByRole('button', { name: 'Restart with new image' }).click();
    await expect(panel.locator('[data-section="instance"]')).toContainText(
      GPU_IMAGE,
      { timeout: 90_000 }
    );
    await waitRunning(panel);
  });

  test('stops the instance after asking', async ({ page, request }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitRunning(panel);
    await panel.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Stop CodeLab?');
    await expect(dialog.locator('.jp-Dialog-content')).toHaveScreenshot(
      'dialog-stop.png'
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await waitRunning(panel);

    await panel.getByRole('button', { name: 'Stop', exact: true }).click();
    await dialog.getByRole('button', { name: 'Stop' }).click();
    await expect(panel.locator('[data-status]')).toHaveAttribute(
      'data-status',
      'STOPPED',
      { timeout: 90_000 }
    );
    await expect(panel.getByRole('button', { name: 'Start' })).toBeVisible();
    await snapshot(page, panel, 'panel-stopped');
  });

  test('opens a shared notebook from a deep link, only after a click', async ({
    page,
    request
  }) => {
    await ensureStopped(request);
    await page.goto(
      '?codelab-share=' +
        encodeURIComponent('https://github.com/o/r/blob/main/demo.ipynb')
    );
    const panel = page.locator('#codelab-ext-panel');
    await expect(panel).toBeVisible();
    const field = panel.getByLabel('Notebook URL');
    await expect(field).toHaveValue('https://github.com/o/r/blob/main/demo.ipynb');
    await expect(panel).toContainText(
      'Will be sent as: https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
    expect(page.url()).not.toContain('codelab-share');
    // Nothing started by itself.
    expect(
      (await instances(request)).filter(i => i.status === 'RUNNING')
    ).toHaveLength(0);

    await field.fill('ftp://example.com/demo.ipynb');
    await expect(panel.getByRole('button', { name: 'Open CodeLab' })).toBeDisabled();
    await expect(panel).toContainText('Only http:// and https:// URLs');
    await field.fill('https://github.com/o/r/blob/main/demo.ipynb');

    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitRunning(panel);
    await expect(panel).toContainText(
      'Shared notebook: https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
    const running = (await instances(request)).find(i => i.status === 'RUNNING');
    expect(running?.description ?? '').toContain(
      'https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
  });

  test('signs out and in again', async ({ page }) => {
    const panel = await openPanel(page);
    await panel.getByRole('button', { name: 'Sign out' }).click();
    const form = panel.getByRole('form', { name: 'Sign in to Huawei Cloud' });
    await expect(form).toBeVisible();
    await expect(form.getByLabel('Secret key (SK)')).toHaveAttribute(
      'type',
      'password'
    );
    await snapshot(page, panel, 'panel-signed-out');
    await panel.screenshot({ path: path.join(DOCS, 'panel-sign-in.png') });

    await form.getByLabel('Access key (AK)').fill(DEMO_AK);
    await form.getByLabel('Secret key (SK)').fill('wrong-secret');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(form.getByRole('alert')).toBeVisible();

    await form.getByLabel('Secret key (SK)').fill(DEMO_SK);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(panel.getByText('CODE****EMO1')).toBeVisible();
    await expect(panel.getByRole('button', { name: 'Open CodeLab' })).toBeVisible();
  });

  test('never lets a secret reach the browser console or an answer', async ({
    page,
    request
  }) => {
    await ensureStopped(request);
    const consoleTexts: string[] = [];
    page.on('console', message => consoleTexts.push(message.text()));
    page.on('pageerror', error => consoleTexts.push(String(error)));
    const answers: Promise<string>[] = [];
    page.on('response', response => {
      const url = response.url();
      if (url.includes('/codelab/') && !url.includes('/events')) {
        answers.push(
          response
            .text()
            .catch(() => '')
            .then(body => `${url}\n${JSON.stringify(response.headers())}\n${body}`)
        );
      }
    });

    // sign in through the form, open, watch it start, show SSH, extend, stop
    const panel = await openPanel(page);
    await panel.getByRole('button', { name: 'Sign out' }).click();
    const form = panel.getByRole('form', { name: 'Sign in to Huawei Cloud' });
    await form.getByLabel('Access key (AK)').fill(DEMO_AK);
    await form.getByLabel('Secret key (SK)').fill(DEMO_SK);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(panel.getByText('CODE****EMO1')).toBeVisible();
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitRunning(panel);
    await expect(panel.getByLabel('SSH config')).toContainText('Host codelab');
    // the notebook token travels only inside the instance's own URL
    const listed = (await instances(request))[0] as IInstanceLite & {
      url?: string;
      token?: string | null;
    };
    expect(listed.token).toBeNull();
    const token = new URL(listed.url ?? 'http://x/').searchParams.get('token');
    expect(token).toBeTruthy();

    await panel.getByLabel('Keep running for').selectOption('2');
    await panel.getByRole('button', { name: 'Extend' }).click();
    await expect(page.getByText(/CodeLab now stops at/)).toBeVisible();
    await panel.getByRole('button', { name: 'Stop', exact: true }).click();
    await page.locator('.jp-Dialog').getByRole('button', { name: 'Stop' }).click();
    await expect(panel.locator('[data-status]')).toHaveAttribute(
      'data-status',
      'STOPPED',
      { timeout: 90_000 }
    );

    const bodies = await Promise.all(answers);
    expect(bodies.length).toBeGreaterThan(5);
    for (const body of bodies) {
      expect(body).not.toContain(DEMO_SK);
      // outside a "url" field, the token never appears in an answer
      expect(body.replace(/"url":\s*"[^"]*"/g, '')).not.toContain(token);
    }
    // the capture itself works: a probe logged by the page is there
    await page.evaluate(() => console.log('codelab-console-probe'));
    await expect.poll(() => consoleTexts.includes('codelab-console-probe')).toBe(true);
    for (const text of consoleTexts) {
      expect(text).not.toContain(DEMO_SK);
      expect(text).not.toContain(token as string);
    }
  });

  test('looks right in the dark theme', async ({ page, request }) => {
    await ensureRunning(request);
    await page.theme.setDarkTheme();
    const panel = await openPanel(page);
    await waitRunning(panel);
    await snapshot(page, panel, 'panel-running-dark');
    await panel.screenshot({
      path: path.join(DOCS, 'panel-running-dark.png')
    });
  });
});
