/**
 * The CodeLab sidebar in a real browser, against JupyterLab on the ModelArts emulator,
 * at 1366x768 (the most common laptop screen): what each state shows IN THE VIEWPORT,
 * the same at a 250 px sidebar, axe-core in the light and dark themes, and the README
 * screenshots (one per state).
 */
import { expect, test } from '@jupyterlab/galata';
import * as path from 'path';

import {
  API,
  DEFAULT_IMAGE,
  GPU_IMAGE,
  DEMO_AK,
  DEMO_SK,
  DOCS,
  TIDY_FOLDER,
  IInstanceLite,
  instances,
  settled,
  emulator,
  ensureNone,
  ensureRunning,
  openPanel,
  setSidebarWidth,
  expectInView,
  expectAccessible,
  snapshot,
  readmeShot,
  waitState
} from './support';

test.describe('CodeLab sidebar at 1366x768', () => {
  test.use({
    autoGoto: true,
    tmpPath: TIDY_FOLDER,
    viewport: { width: 1366, height: 768 }
  });

  test('no instance: the picker, the notebook URL and Open, Open always in view', async ({
    page,
    request
  }) => {
    await ensureNone(request);
    await page.reload();
    const panel = await openPanel(page);
    await waitState(panel, 'none');
    const open = panel.getByRole('button', { name: 'Open CodeLab' });
    await expectInView(
      panel.getByLabel('Search images'),
      panel.locator('.jp-CodeLab-image').first(),
      open,
      panel.locator('.jp-CodeLab-launchHint')
    );
    // what the user gets, before opening, as the server answered it: category, arch, the
    // free flavor ModelArts lists for the image (ListFlavors), the lease rule
    await expect(panel.locator('.jp-CodeLab-launchHint')).toContainText(
      'CPU · x86_64 · CPU: 2 vCPUs | 8 GiB (free)'
    );
    await expect(panel.locator('.jp-CodeLab-launchHint')).toContainText(
      'One free instance per account; it stops after 1 hour unless you extend it (up to 72 hours).'
    );
    // no scroller inside the scrolling panel
    const list = panel.locator('.jp-CodeLab-imageList');
    expect(
      await list.evaluate(node => getComputedStyle(node).overflowY)
    ).toBe('visible');
    // scrolled to the very end (the account), Open is still in view: it sticks
    await panel.locator('[data-section="account"]').scrollIntoViewIfNeeded();
    await expectInView(open);
    await panel.getByLabel('Shared notebook URL (optional)').scrollIntoViewIfNeeded();
    await expectInView(open, panel.getByLabel('Shared notebook URL (optional)'));

    // search: every word of name, tag, description, arch, category and services
    const search = panel.getByLabel('Search images');
    await search.fill('SSH gpu');
    await expect(panel.locator('.jp-CodeLab-image')).not.toHaveCount(0);
    for (const text of await panel.locator('.jp-CodeLab-image').allTextContents()) {
      expect(text).toContain('SSH');
    }
    await search.fill('aarch64');
    await expect(panel.locator('.jp-CodeLab-image').first()).toContainText(
      'aarch64'
    );
    await search.fill('');
    await panel.evaluate(node => (node.scrollTop = 0));
    await expect(panel.locator('.jp-CodeLab-image').first()).toContainText(
      DEFAULT_IMAGE
    );
    await expect(
      panel.locator('.jp-CodeLab-image').first().getByRole('radio')
    ).toBeChecked();
    await snapshot(page, panel, 'panel-idle');
    await readmeShot(page, 'panel-none');

    // at a 250 px sidebar, the main action is still in view
    await setSidebarWidth(page, 250);
    await expectInView(panel.getByLabel('Search images'), open);
    await panel.locator('[data-section="account"]').scrollIntoViewIfNeeded();
    await expectInView(open);
    await expectAccessible(page, 'none, light');
  });

  test('the chosen image is scrolled into view (deep link to a late image)', async ({
    page,
    request
  }) => {
    await ensureNone(request);
    const images: { id: string; name: string }[] = (
      await (await request.get(`${API}/images`)).json()
    ).images;
    const last = images[images.length - 1];
    await page.goto(`?codelab-image=${encodeURIComponent(last.id)}`);
    const panel = await openPanel(page);
    await waitState(panel, 'none');
    const chosen = panel.locator(`[data-image-id="${last.id}"]`);
    await expect(chosen.getByRole('radio')).toBeChecked();
    await expectInView(chosen);
  });

  test('starting: the steps on top, in view on Open, elapsed times, Cancel', async ({
    page,
    request
  }) => {
    await ensureNone(request);
    await page.reload();
    const panel = await openPanel(page);
    await waitState(panel, 'none');
    // a slower clock so the steps can be seen
    const url = await emulator(request);
    await request.post(`${url}/_emulator/speed`, { data: { speed: 2 } });
    try {
      await panel.getByRole('button', { name: 'Open CodeLab' }).click();
      await waitState(panel, 'starting');
      const steps = panel.getByRole('list', { name: 'Start-up steps' });
      await expect(steps.getByRole('listitem')).toHaveCount(4);
      await expect(steps.locator('[data-state="active"]')).toHaveCount(1, {
        timeout: 30_000
      });
      // freeze the emulated clock mid-way: the panel's own elapsed time still runs
      await request.post(`${url}/_emulator/speed`, { data: { speed: 0 } });
      await expectInView(
        panel.getByRole('heading', { name: 'Starting CodeLab' }),
        steps,
        panel.getByRole('button', { name: 'Cancel' })
      );
      await expect(panel.locator('[data-state="active"] .jp-CodeLab-stepTime')).toHaveText(
        /^\d+ s$|^\d+ min \d\d s$/,
        { timeout: 30_000 }
      );
      await expect(page.locator('.jp-CodeLab-statusItem')).toContainText(
        /CodeLab: (Preparing|Creating|Starting)/
      );
      await readmeShot(page, 'panel-starting');
      await setSidebarWidth(page, 250);
      await expectInView(steps, panel.getByRole('button', { name: 'Cancel' }));
      await expectAccessible(page, 'starting, light');
    } finally {
      await request.post(`${url}/_emulator/speed`, { data: { speed: 20 } });
    }
    await waitState(panel, 'running');
  });

  test('running: status, countdown, Open, Stop, Extend and SSH on top; another image folded', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    const card = panel.locator('[data-section="instance"]');
    const onTop = () => [
      card.getByText('Running', { exact: true }),
      card.getByRole('timer'),
      card.getByRole('link', { name: 'Open CodeLab' }),
      card.getByRole('button', { name: 'Stop' }),
      card.getByRole('button', { name: 'Extend' }),
      panel.getByRole('heading', { name: 'SSH' }),
      panel.getByRole('button', { name: 'Install SSH config' })
    ];
    await expectInView(...onTop());
    await expect(card.getByRole('timer')).toHaveText(/^\d+:\d\d(:\d\d)?$/);
    await expect(
      card.getByRole('link', { name: 'Open CodeLab' })
    ).toHaveAttribute('href', /^http/);
    await expect(panel.getByRole('list', { name: 'Start-up steps' })).toHaveCount(0);
    await expect(panel.getByLabel('Search images')).toHaveCount(0);
    const fold = panel.getByRole('button', { name: 'Open another image' });
    await expect(fold).toHaveAttribute('aria-expanded', 'false');
    await expect(page.locator('.jp-CodeLab-statusItem')).toContainText(
      /CodeLab \d+:\d\d/
    );
    await snapshot(page, panel, 'panel-running');
    await readmeShot(page, 'panel-running');
    await expectAccessible(page, 'running, light');

    await setSidebarWidth(page, 250);
    await panel.evaluate(node => (node.scrollTop = 0));
    await expectInView(...onTop().slice(0, 6));

    // A reload reattaches to the same instance (from GET instances).
    await page.reload();
    const again = await openPanel(page);
    await waitState(again, 'running');
    await expect(again.locator('[data-section="instance"]')).toContainText(
      DEFAULT_IMAGE
    );
  });

  test('SSH: the CLI alias and block, Install SSH config, VS Code, copy', async ({
    page,
    request,
    context
  }) => {
    await ensureRunning(request);
    await context.grantPermissions(['clipboard-read', 'clipboard-write']);
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    const config = panel.getByLabel('SSH config');
    await expect(config).toContainText('Host codelab-cn-north-4');
    await expect(config).toContainText('StrictHostKeyChecking accept-new');
    await expect(config).toContainText(
      /UserKnownHostsFile ~\/\.ssh\/codelab-[\w-]+\.known_hosts/
    );
    await expect(
      panel.getByRole('link', { name: 'Open in VS Code' })
    ).toHaveAttribute(
      'href',
      'vscode://vscode-remote/ssh-remote+codelab-cn-north-4/home/ma-user/work'
    );

    // the command beside the block is the server's, with the same key and host-key policy
    const command = panel.locator('.jp-CodeLab-sshCommand');
    await expect(command).toContainText('StrictHostKeyChecking=accept-new');
    const identity = /IdentityFile (\S+)/.exec((await config.textContent()) ?? '');
    if (identity) {
      await expect(command).toContainText(`-i ${identity[1]} `);
    }
    await panel.getByLabel('Identity file (your key pair .pem)').fill(
      '~/.ssh/KeyPair-test.pem'
    );
    await expect(config).toContainText('~/.ssh/KeyPair-test.pem');
    await expect(command).toContainText('-i ~/.ssh/KeyPair-test.pem ');

    await panel.getByRole('button', { name: 'Copy SSH config' }).click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toContain('Host codelab-cn-north-4');
    expect(copied).toMatch(/Port \d+/);
    expect(copied).toContain('IdentityFile ~/.ssh/KeyPair-test.pem');
    expect(copied).toBe(await config.textContent());

    await panel.getByRole('button', { name: 'Copy ssh command' }).click();
    await expect
      .poll(() => page.evaluate(() => navigator.clipboard.readText()))
      .toMatch(/^ssh -i ~\/\.ssh\/KeyPair-test\.pem -p \d+ .* ma-user@/);

    // Install SSH config: the server writes the managed block and says how to connect
    await panel.getByRole('button', { name: 'Install SSH config' }).click();
    const done = panel.locator('.jp-CodeLab-success');
    await expect(done).toContainText('config.d/codelab');
    await expect(done).toContainText('ssh codelab-cn-north-4');
    await expect(panel.locator('.jp-CodeLab-sshCommand')).toHaveText(
      'ssh codelab-cn-north-4'
    );
    await panel
      .locator('[data-section="ssh"]')
      .screenshot({ path: path.join(DOCS, 'panel-ssh.png') });
  });

  test('extends the lease; the expiring toast follows the countdown', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    const id = (await instances(request)).find(i => i.status === 'RUNNING')!.id;
    const url = await emulator(request);
    await request.post(`${url}/_emulator/instances/${id}/lease`, {
      data: { remaining_ms: 5 * 60_000 }
    });
    await page.reload();
    const again = await openPanel(page);
    await waitState(again, 'running');
    const toast = page.locator('.Toastify__toast', {
      hasText: 'CodeLab stops in'
    });
    await expect(toast).toBeVisible({ timeout: 30_000 });
    const first = await toast.textContent();
    await expect
      .poll(async () => await toast.textContent(), { timeout: 10_000 })
      .not.toBe(first);
    // the toast and the card say the same time (within a second)
    const fromToast = /(\d+:\d\d)/.exec((await toast.textContent()) ?? '')![1];
    const fromCard = (await again.getByRole('timer').textContent())!;
    const seconds = (t: string) =>
      t.split(':').reduce((a, b) => a * 60 + Number(b), 0);
    expect(Math.abs(seconds(fromToast) - seconds(fromCard))).toBeLessThanOrEqual(2);

    await again.getByLabel('Keep running for').selectOption('4');
    await again.getByRole('button', { name: 'Extend' }).click();
    await expect(again.getByRole('timer')).toHaveText(/^(3:59|4:00):\d\d$/);
    await expect(page.getByText(/CodeLab now stops at/)).toBeVisible();
    await expect(toast).toHaveCount(0);
  });

  test('asks before shortening the lease (409), keeps it unless told, then shortens', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const id = (await instances(request)).find(i => i.status === 'RUNNING')!.id;
    const url = await emulator(request);
    // ten hours left: keeping it "for 2 hours from now" would end it sooner
    await request.post(`${url}/_emulator/instances/${id}/lease`, {
      data: { remaining_ms: 10 * 3_600_000 }
    });
    await page.reload();
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    const timer = panel.getByRole('timer');
    await expect(timer).toHaveText(/^(9:59|10:00):\d\d$/);
    const patches: { shorten?: boolean }[] = [];
    page.on('request', r => {
      if (r.method() === 'PATCH' && r.url().endsWith(`/instances/${id}/lease`)) {
        patches.push(r.postDataJSON());
      }
    });

    await panel.getByLabel('Keep running for').selectOption('2');
    await panel.getByRole('button', { name: 'Extend' }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Shorten the CodeLab lease?');
    await expect(dialog).toContainText(
      'Keeping it for 2 hours from now makes it stop sooner than it would.'
    );
    // the server's own explanation is shown as it said it
    await expect(dialog.locator('.jp-CodeLab-dialog p').first()).not.toBeEmpty();
    await dialog.getByRole('button', { name: 'Keep the current lease' }).click();
    await expect(dialog).toHaveCount(0);
    await expect(timer).toHaveText(/^(9:59|10:00):\d\d$/);
    expect(patches.map(p => p.shorten ?? false)).toEqual([false]);
    const kept = (await (await request.get(`${API}/instances/${id}`)).json()).lease;
    expect(kept.remaining_ms).toBeGreaterThan(9 * 3_600_000);

    await panel.getByRole('button', { name: 'Extend' }).click();
    await dialog.getByRole('button', { name: 'Shorten' }).click();
    await expect(timer).toHaveText(/^(1:59|2:00):\d\d$/);
    await expect(page.getByText(/CodeLab now stops at/)).toBeVisible();
    expect(patches.map(p => p.shorten ?? false)).toEqual([false, false, true]);
  });

  test('asks before switching a running instance to another image (409)', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    await panel.getByRole('button', { name: 'Open another image' }).click();
    await panel.getByLabel('Search images').fill(GPU_IMAGE);
    await panel.locator('.jp-CodeLab-image', { hasText: GPU_IMAGE }).click();
    await panel.getByRole('button', { name: 'Open with this image' }).click();

    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Switch CodeLab to another image?');
    // the server's message (409 codelab.switch_required), not a panel copy of the rule
    await expect(dialog).toContainText(
      'switches it to that image and restarts it'
    );
    await expect(dialog).toContainText(GPU_IMAGE);
    await expect(dialog.locator('.jp-Dialog-content')).toHaveScreenshot(
      'dialog-switch.png'
    );
    await dialog
      .locator('.jp-Dialog-content')
      .screenshot({ path: path.join(DOCS, 'dialog-switch.png') });

    // Cancel: nothing changes.
    await dialog.getByRole('button', { name: 'Keep current instance' }).click();
    await expect(dialog).toHaveCount(0);
    await waitState(panel, 'running');
    expect(
      (await instances(request)).find(i => i.status === 'RUNNING')?.image?.name
    ).toBe(DEFAULT_IMAGE);

    // Accept: the instance restarts with the GPU image, the steps come on top.
    await panel.getByRole('button', { name: 'Open with this image' }).click();
    await dialog.getByRole('button', { name: 'Restart with new image' }).click();
    await expect(panel.locator('[data-section="instance"]')).toContainText(
      GPU_IMAGE,
      { timeout: 90_000 }
    );
    await waitState(panel, 'running');
  });

  test('stopped: says so, no stale ticks, Start and another image in view', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    await panel.getByRole('button', { name: 'Stop', exact: true }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Stop CodeLab?');
    await expect(dialog.locator('.jp-Dialog-content')).toHaveScreenshot(
      'dialog-stop.png'
    );
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await waitState(panel, 'running');

    await panel.getByRole('button', { name: 'Stop', exact: true }).click();
    await dialog.getByRole('button', { name: 'Stop' }).click();
    await waitState(panel, 'stopped');
    const card = panel.locator('[data-section="instance"]');
    await expectInView(
      card.getByText('Stopped', { exact: true }),
      card.getByText(/The instance is stopped/),
      card.getByRole('button', { name: 'Start' }),
      panel.getByRole('button', { name: 'Open another image' })
    );
    await expect(panel.getByRole('list', { name: 'Start-up steps' })).toHaveCount(0);
    await expect(panel.getByText(/steps are done|Live updates/)).toHaveCount(0);
    await expect(page.locator('.jp-CodeLab-statusItem')).toHaveText(
      'CodeLab: Stopped'
    );
    await snapshot(page, panel, 'panel-stopped');
    await readmeShot(page, 'panel-stopped');
    await expectAccessible(page, 'stopped, light');
    await setSidebarWidth(page, 250);
    await expectInView(card.getByRole('button', { name: 'Start' }));

    // Start brings the steps back on top
    await card.getByRole('button', { name: 'Start' }).click();
    await waitState(panel, 'starting');
    await expectInView(panel.getByRole('list', { name: 'Start-up steps' }));
    await waitState(panel, 'running');
  });

  test('failed: the reason, Start and another image, no ticks', async ({
    page,
    request
  }) => {
    await ensureNone(request);
    const url = await emulator(request);
    const scripted = await request.post(`${url}/_emulator/fail_step`, {
      data: { step: 2, fail_reason: 'Flavor sold out (ModelArts.6329)' }
    });
    expect(scripted.ok()).toBeTruthy();
    await page.reload();
    const panel = await openPanel(page);
    await waitState(panel, 'none');
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitState(panel, 'failed');
    const card = panel.locator('[data-section="instance"]');
    await expectInView(
      card.getByText(/failed/i).first(),
      card.getByText('Flavor sold out (ModelArts.6329)'),
      card.getByRole('button', { name: 'Start' }),
      panel.getByRole('button', { name: 'Open another image' })
    );
    await expect(card).toContainText('step 2 (Compute) failed');
    await expect(panel.getByRole('list', { name: 'Start-up steps' })).toHaveCount(0);
    const status = page.locator('.jp-CodeLab-statusItem');
    await expect(status).toContainText(/CodeLab: (Creation|Start) failed/);
    await expect(status).not.toContainText(/_failed|_FAILED/);
    await readmeShot(page, 'panel-failed');
    await expectAccessible(page, 'failed, light');
    await panel.getByRole('button', { name: 'Open another image' }).click();
    await expectInView(
      panel.getByRole('button', { name: 'Open with this image' })
    );
  });

  test('opens a shared notebook from a deep link, only after a click', async ({
    page,
    request
  }) => {
    await ensureNone(request);
    await page.goto(
      '?codelab-share=' +
        encodeURIComponent('https://github.com/o/r/blob/main/demo.ipynb')
    );
    const panel = page.locator('#codelab-ext-panel');
    await expect(panel).toBeVisible();
    await waitState(panel, 'none');
    const field = panel.getByLabel('Shared notebook URL (optional)');
    await expect(field).toHaveValue('https://github.com/o/r/blob/main/demo.ipynb');
    await expect(panel).toContainText(
      'Will be sent as: https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
    expect(page.url()).not.toContain('codelab-share');
    // Nothing started by itself.
    expect(await instances(request)).toHaveLength(0);

    await field.fill('ftp://example.com/demo.ipynb');
    await expect(panel.getByRole('button', { name: 'Open CodeLab' })).toBeDisabled();
    // the server's own message (GET share-url), not a copy of its rule
    await expect(panel).toContainText('must be an http:// or https:// URL');
    await field.fill('https://github.com/o/r/blob/main/demo.ipynb');

    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitState(panel, 'running');
    await expect(panel.locator('[data-section="instance"]')).toContainText(
      'https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
    const running = (await instances(request)).find(i => i.status === 'RUNNING');
    expect(running?.description ?? '').toContain(
      'https://raw.githubusercontent.com/o/r/main/demo.ipynb'
    );
  });

  test('a deep link with only a share URL never switches a running GPU instance silently', async ({
    page,
    request
  }) => {
    // Given a GPU instance running
    const images: { id: string; name: string }[] = (
      await (await request.get(`${API}/images`)).json()
    ).images;
    const gpu = images.find(i => i.name === GPU_IMAGE)!;
    await settled(request);
    const opened = await request.post(`${API}/open`, {
      data: { image_id: gpu.id, switch: true }
    });
    expect(opened.ok()).toBeTruthy();
    await expect
      .poll(
        async () =>
          (await instances(request))
            .filter(i => i.status === 'RUNNING')
            .map(i => i.image?.name),
        { timeout: 90_000, intervals: [500] }
      )
      .toEqual([GPU_IMAGE]);
    const before = (await instances(request))[0];

    // When the deep link names only a notebook and the user opens it
    await page.goto(
      '?codelab-share=' +
        encodeURIComponent('https://github.com/o/r/blob/main/demo.ipynb')
    );
    const panel = page.locator('#codelab-ext-panel');
    await expect(panel).toBeVisible();
    await waitState(panel, 'running');
    await panel.getByRole('button', { name: 'Open another image' }).click();
    // the panel names the image the server marks as default (never a blank image_id)
    await expect(panel.locator('.jp-CodeLab-chosenName')).toContainText(
      DEFAULT_IMAGE
    );
    const sent = page.waitForRequest(
      r => r.url().endsWith('/codelab/open') && r.method() === 'POST'
    );
    await panel.getByRole('button', { name: 'Open with this image' }).click();
    const body = (await sent).postDataJSON();
    expect(body.image_id).toBeTruthy();
    expect(body.switch).toBeUndefined();

    // Then the server's 409 is shown, and keeping the instance changes nothing
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toContainText('Switch CodeLab to another image?');
    await expect(dialog).toContainText(GPU_IMAGE);
    await expect(dialog).toContainText(DEFAULT_IMAGE);
    await dialog.getByRole('button', { name: 'Keep current instance' }).click();
    await expect(dialog).toHaveCount(0);
    await waitState(panel, 'running');
    const after = (await instances(request))[0];
    expect(after.id).toBe(before.id);
    expect(after.status).toBe('RUNNING');
    expect(after.image?.name).toBe(GPU_IMAGE);
    expect(after.update_at).toBe(before.update_at);
  });

  test('menu, shortcut and commands', async ({ page, request }) => {
    await ensureRunning(request);
    // the CodeLab menu of the menu bar lists the commands
    await page.getByRole('menuitem', { name: 'CodeLab' }).click();
    const menu = page.locator('.lm-Menu');
    for (const label of [
      'Show CodeLab Panel',
      'Open CodeLab',
      'Open CodeLab Instance in New Tab',
      'Start CodeLab',
      'Stop CodeLab…',
      'Install CodeLab SSH Config',
      'Sign In to Huawei Cloud…'
    ]) {
      await expect(menu.getByText(label, { exact: true })).toBeVisible();
    }
    await page.keyboard.press('Escape');
    // the keyboard shortcut shows the panel
    await page.evaluate(() => window.jupyterapp.shell.collapseLeft());
    await expect(page.locator('#codelab-ext-panel')).toBeHidden();
    await page.keyboard.press('Alt+Shift+C');
    await expect(page.locator('#codelab-ext-panel')).toBeVisible();
    const ids = await page.evaluate(() => window.jupyterapp.commands.listCommands());
    for (const id of [
      'codelab:start',
      'codelab:open-instance',
      'codelab:sign-in',
      'codelab:install-ssh-config'
    ]) {
      expect(ids).toContain(id);
    }
  });

  test('signs out and in again', async ({ page }) => {
    const panel = await openPanel(page);
    // "Sign in" while signed in with stored keys: says with which key, shows Sign out
    await page.evaluate(() => window.jupyterapp.commands.execute('codelab:sign-in'));
    await expect(
      page.locator('.Toastify__toast', { hasText: 'Already signed in' })
    ).toContainText('CODE****EMO1');
    const signOut = panel.getByRole('button', { name: 'Sign out' });
    await expect(signOut).toBeFocused();
    await expectInView(signOut);
    await signOut.click();
    const form = panel.getByRole('form', { name: 'Sign in to Huawei Cloud' });
    await expect(form).toBeVisible();
    // signed out, the same command puts the cursor in the form
    await page.evaluate(() => window.jupyterapp.commands.execute('codelab:sign-in'));
    await expect(form.getByLabel('Access key (AK)')).toBeFocused();
    await expect(form.getByLabel('Secret key (SK)')).toHaveAttribute(
      'type',
      'password'
    );
    await expectInView(form.getByLabel('Access key (AK)'));
    await snapshot(page, panel, 'panel-signed-out');
    await readmeShot(page, 'panel-sign-in');
    await expectAccessible(page, 'signed out, light');

    await form.getByLabel('Access key (AK)').fill(DEMO_AK);
    await form.getByLabel('Secret key (SK)').fill('wrong-secret');
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(form.getByRole('alert')).toBeVisible();

    await form.getByLabel('Secret key (SK)').fill(DEMO_SK);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(panel.getByText('CODE****EMO1')).toBeVisible();
  });

  test('text fields show a visible focus ring', async ({ page, request }) => {
    await ensureNone(request);
    await page.reload();
    const panel = await openPanel(page);
    await waitState(panel, 'none');
    const field = panel.getByLabel('Shared notebook URL (optional)');
    await field.focus();
    const ring = await field.evaluate(node => {
      const style = getComputedStyle(node);
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    expect(ring.style).toBe('solid');
    expect(ring.width).toBeGreaterThanOrEqual(2);
  });

  test('never lets a secret reach the browser console or an answer', async ({
    page,
    request
  }) => {
    await ensureNone(request);
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
    await page.reload();
    const panel = await openPanel(page);
    await panel.getByRole('button', { name: 'Sign out' }).click();
    const form = panel.getByRole('form', { name: 'Sign in to Huawei Cloud' });
    await form.getByLabel('Access key (AK)').fill(DEMO_AK);
    await form.getByLabel('Secret key (SK)').fill(DEMO_SK);
    await form.getByRole('button', { name: 'Sign in' }).click();
    await expect(panel.getByText('CODE****EMO1')).toBeVisible();
    await panel.getByRole('button', { name: 'Open CodeLab' }).click();
    await waitState(panel, 'running');
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
    await waitState(panel, 'stopped');

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

  test('dark theme: running and no instance, accessible', async ({
    page,
    request
  }) => {
    await ensureRunning(request);
    await page.theme.setDarkTheme();
    const panel = await openPanel(page);
    await waitState(panel, 'running');
    await snapshot(page, panel, 'panel-running-dark');
    await readmeShot(page, 'panel-running-dark');
    await expectAccessible(page, 'running, dark');
    await panel.getByRole('button', { name: 'Open another image' }).click();
    await expectAccessible(page, 'another image, dark');
    await page.theme.setLightTheme();
  });
});
