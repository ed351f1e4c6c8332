/**
 * The CodeLab sidebar in Simplified Chinese (JupyterLab's language setting "zh_CN": JupyterLab's
 * own language pack plus the extension's catalogue, served through its jupyterlab.locale entry
 * point). Every state of the panel, at 1366x768 and at a 250 px sidebar: no English label of ours
 * left visible (checked against the catalogue itself), nothing wider than the panel or the
 * window, axe-core clean, and a screenshot per state (docs/screenshots/zh_CN-*.png). The settings
 * editor shows the extension's schema translated too (JupyterLab's server translates it).
 */
import {
  expect,
  galata,
  IJupyterLabPageFixture,
  test
} from '@jupyterlab/galata';
import type { APIRequestContext, Locator } from '@playwright/test';
import * as fs from 'fs';
import * as path from 'path';

import {
  DEMO_AK,
  DEMO_SK,
  DOCS,
  emulator,
  ensureNone,
  ensureRunning,
  expectAccessible,
  openPanel,
  readmeShot,
  setSidebarWidth,
  TIDY_FOLDER,
  waitState
} from './support';

const LOCALE_PLUGIN = '@jupyterlab/translation-extension:plugin';
const CATALOGUE = path.resolve(
  __dirname,
  '..',
  '..',
  'codelab_ext',
  'locale',
  'zh_CN',
  'LC_MESSAGES',
  'codelab_ext.json'
);
/** Any Han character: a text that has one is translated. */
const HAN = /\p{Script=Han}/u;

/**
 * What may stay in Latin letters: names (CodeLab, SSH, VS Code, ModelArts…), architectures and
 * accelerators, and what the cloud or the user typed (image names, ids, URLs, keys, times).
 * A text node passes when it is made only of these and of digits and punctuation.
 */
const PROPER = [
  /CodeLab/g,
  /ModelArts/g,
  /VS Code/g,
  /\bSSH\b/g,
  /\b(CPU|GPU|NPU|Ascend|x86_64|aarch64|AK|SK|ID|URL)\b/g,
  // what the cloud sent or the user typed: image names and tags, ids, hosts, keys, URLs
  /https?:\/\/\S+/g,
  /\b[A-Z0-9]{4}\*+[A-Z0-9]{4}\b/g, // a masked access key
  /\b[\w.-]*\d[\w.:-]*\b/g, // anything with a digit: notebook2.0-…, cn-north-4, py_3.10, 4:58
  /\S*[/~]\S*/g, // a path: ~/.ssh/KeyPair-….pem
  /\b[a-z0-9_-]+(\.[a-z0-9_-]+)+\b/g, // a dotted id: modelarts.vm.cpu.free
  /\b(ssh|codelab|ma-user|Host|HostName|User|Port|IdentityFile)\b/g
];

interface ICatalogue {
  [msgid: string]: string[] | { domain: string };
}

/** The English strings of ours that have a translation, as patterns over a whole text node. */
function englishPatterns(): { msgid: string; pattern: RegExp }[] {
  const data = JSON.parse(fs.readFileSync(CATALOGUE, 'utf-8')) as ICatalogue;
  const patterns: { msgid: string; pattern: RegExp }[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (!key || !Array.isArray(value)) {
      continue;
    }
    const msgid = key.includes('\u0004') ? key.split('\u0004')[1] : key;
    if (value.every(text => text === msgid) || !/[a-z]{2}/i.test(msgid)) {
      continue; // a proper noun, the same in both languages
    }
    const source = msgid
      .split(/%\d/)
      .map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('.+?');
    patterns.push({ msgid, pattern: new RegExp(`^${source}$`) });
  }
  expect(patterns.length).toBeGreaterThan(100);
  return patterns;
}

const ENGLISH = englishPatterns();

/** The visible texts of `root` (text nodes, labels, titles, placeholders), in the viewport. */
async function visibleTexts(root: Locator): Promise<string[]> {
  return root.evaluate(node => {
    const seen: string[] = [];
    const inView = (element: Element) => {
      const rect = element.getBoundingClientRect();
      return (
        rect.width > 0 &&
        rect.height > 0 &&
        rect.bottom > 0 &&
        rect.right > 0 &&
        rect.top < window.innerHeight &&
        rect.left < window.innerWidth &&
        element.checkVisibility({
          checkOpacity: true,
          checkVisibilityCSS: true
        })
      );
    };
    const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    for (let text = walker.nextNode(); text; text = walker.nextNode()) {
      const parent = text.parentElement;
      const value = (text.textContent ?? '').replace(/\s+/g, ' ').trim();
      // the SSH config and command are OpenSSH's language; what the cloud said is marked by the test
      if (
        !value ||
        !parent ||
        parent.closest('pre, code, [data-cloud-text]') ||
        !inView(parent)
      ) {
        continue;
      }
      if (parent.matches('.jp-CodeLab-stepState') && value.startsWith('·')) {
        continue; // the cloud's own description of a start-up step, after ours
      }
      seen.push(value);
    }
    for (const element of Array.from(
      node.querySelectorAll('[aria-label], [title], [placeholder]')
    )) {
      for (const name of ['aria-label', 'title', 'placeholder']) {
        if (
          element.closest('pre, code, [data-cloud-text]') ||
          (name === 'title' && element.matches('[data-image-id]'))
        ) {
          continue; // the cloud's words: an image's description, a failure reason
        }
        const value = element.getAttribute(name)?.trim();
        if (name === 'title' && value?.startsWith('ssh ')) {
          continue; // the command a copy button copies, as its tooltip
        }
        if (value && (name === 'aria-label' || inView(element))) {
          seen.push(value);
        }
      }
    }
    return seen;
  });
}

/** No English label of ours: each text is translated (has Han) or is made of names and data. */
async function expectChinese(root: Locator, label: string): Promise<void> {
  const texts = await visibleTexts(root);
  expect(texts.length, `${label}: no text found`).toBeGreaterThan(0);
  const english: string[] = [];
  for (const text of texts) {
    const ours = ENGLISH.find(({ pattern }) => pattern.test(text));
    if (ours && !HAN.test(text)) {
      english.push(`${text}  (catalogue: "${ours.msgid}")`);
      continue;
    }
    if (HAN.test(text)) {
      continue;
    }
    let rest = text;
    for (const name of PROPER) {
      rest = rest.replace(name, ' ');
    }
    if (/[a-z]{2}/i.test(rest)) {
      english.push(`${text}  (not a name or an id: "${rest.trim()}")`);
    }
  }
  expect(english, `${label}: English left visible`).toEqual([]);
}

/** Nothing is wider than the panel, nothing leaves the window, no button clips its label. */
async function expectNoOverflow(panel: Locator, label: string): Promise<void> {
  const problems = await panel.evaluate(node => {
    const found: string[] = [];
    const box = node.getBoundingClientRect();
    const describe = (element: Element) =>
      `${element.tagName.toLowerCase()}.${Array.from(element.classList).join('.')} "${(
        element.textContent ?? ''
      )
        .trim()
        .slice(0, 40)}"`;
    if (node.scrollWidth > node.clientWidth + 1) {
      found.push(
        `the panel scrolls sideways (${node.scrollWidth} > ${node.clientWidth})`
      );
    }
    for (const element of Array.from(node.querySelectorAll('*'))) {
      const rect = element.getBoundingClientRect();
      if (rect.width === 0 || rect.height === 0 || !element.checkVisibility()) {
        continue;
      }
      if (rect.right > box.right + 1 || rect.left < box.left - 1) {
        found.push(
          `${describe(element)} leaves the panel (${Math.round(rect.left)}–${Math.round(rect.right)} of ${Math.round(box.left)}–${Math.round(box.right)})`
        );
      }
      if (rect.right > window.innerWidth + 1) {
        found.push(`${describe(element)} leaves the window`);
      }
      if (
        (element.tagName === 'BUTTON' || element.tagName === 'A') &&
        element.scrollWidth > element.clientWidth + 1 &&
        getComputedStyle(element).overflowX !== 'visible'
      ) {
        found.push(`${describe(element)} clips its label`);
      }
    }
    return found;
  });
  expect(problems, `${label}: overflow`).toEqual([]);
}

/**
 * One state: Chinese, no overflow and axe-clean at the default sidebar width and at 250 px;
 * the screenshot (the whole 1366x768 window) at the default width.
 */
async function checkState(
  page: IJupyterLabPageFixture,
  panel: Locator,
  name: string,
  extra: Locator[] = []
): Promise<void> {
  const width = (await panel.boundingBox())!.width;
  for (const at of ['default width', '250 px']) {
    if (at === '250 px') {
      await setSidebarWidth(page, 250);
    }
    await panel.evaluate(node => (node.scrollTop = 0));
    const label = `${name} at ${at}`;
    await expectChinese(panel, label);
    for (const other of extra) {
      await expectChinese(other, `${label}, ${other}`);
    }
    await expectNoOverflow(panel, label);
    await expectAccessible(page, label);
    if (at === 'default width') {
      await readmeShot(page, `zh_CN-${name}`);
    }
  }
  await setSidebarWidth(page, Math.round(width));
}

async function setLocale(request: APIRequestContext, locale: string | null) {
  // for real, on the server: it translates the settings schemas in the saved language
  const response = await request.put(`/lab/api/settings/${LOCALE_PLUGIN}`, {
    data: { raw: JSON.stringify(locale ? { locale } : {}) }
  });
  expect(response.ok()).toBeTruthy();
}

async function signInAgain(panel: Locator): Promise<void> {
  const form = panel.getByRole('form', { name: '登录华为云' });
  await form.getByLabel(/AK/).fill(DEMO_AK);
  await form.getByLabel(/SK/).fill(DEMO_SK);
  await form.getByRole('button', { name: '登录', exact: true }).click();
  await expect(panel.getByText('CODE****EMO1')).toBeVisible();
}

test.describe('CodeLab sidebar in Simplified Chinese', () => {
  test.use({
    autoGoto: true,
    tmpPath: TIDY_FOLDER,
    viewport: { width: 1366, height: 768 },
    // the page's own copy of the settings (Galata keeps them in memory) says zh_CN too
    mockSettings: {
      ...galata.DEFAULT_SETTINGS,
      [LOCALE_PLUGIN]: { locale: 'zh_CN' }
    },
    // Galata waits for the tab "Launcher": in Chinese it is "启动页"
    waitForApplication: async ({}, use) => {
      await use(async (page, helpers) => {
        await page.locator('#jupyterlab-splash').waitFor({ state: 'detached' });
        await helpers.waitForCondition(() =>
          helpers.activity.isTabActive('启动页')
        );
      });
    }
  });

  test.beforeEach(async ({ request }) => {
    await setLocale(request, 'zh_CN');
  });

  test.afterEach(async ({ request }) => {
    await setLocale(request, null);
  });

  test('every state in Chinese, in the panel and the window, accessible', async ({
    page,
    request
  }) => {
    test.setTimeout(420_000);
    await ensureNone(request);
    await page.reload();
    // JupyterLab itself is in Chinese (its language pack), and so is our menu
    await expect(page.getByRole('menuitem', { name: '文件' })).toBeVisible();
    const panel = await openPanel(page);
    const status = page.locator('.jp-CodeLab-statusItem');

    // signed out: the sign-in form
    await waitState(panel, 'none');
    await panel.getByRole('button', { name: '退出登录' }).click();
    await expect(panel.getByRole('form', { name: '登录华为云' })).toBeVisible();
    await checkState(page, panel, 'sign-in');
    await signInAgain(panel);

    // no instance: the image picker and Open
    await waitState(panel, 'none');
    await expect(
      panel.getByRole('button', { name: '打开 CodeLab' })
    ).toBeVisible();
    await checkState(page, panel, 'none');

    // starting: the four steps (the emulated clock frozen mid-way)
    const url = await emulator(request);
    await request.post(`${url}/_emulator/speed`, { data: { speed: 2 } });
    try {
      await panel.getByRole('button', { name: '打开 CodeLab' }).click();
      await waitState(panel, 'starting');
      await expect(panel.locator('[data-state="active"]')).toHaveCount(1, {
        timeout: 30_000
      });
      await request.post(`${url}/_emulator/speed`, { data: { speed: 0 } });
      await expect(
        panel.locator('[data-state="active"] .jp-CodeLab-stepTime')
      ).toHaveText(/^\d+ 秒$|^\d+ 分 \d\d 秒$/, { timeout: 30_000 });
      await checkState(page, panel, 'starting', [status]);
    } finally {
      await request.post(`${url}/_emulator/speed`, { data: { speed: 20 } });
    }

    // running: status, countdown (the lease), Open, Stop, Extend, SSH
    await waitState(panel, 'running');
    await expect(panel.getByRole('timer')).toHaveText(/^\d+:\d\d(:\d\d)?$/);
    await checkState(page, panel, 'running', [status]);

    // SSH: the section, its buttons and its hint (the config itself is OpenSSH's language)
    const ssh = panel.locator('[data-section="ssh"]');
    await ssh.scrollIntoViewIfNeeded();
    await expectChinese(ssh, 'ssh');
    await ssh.screenshot({ path: path.join(DOCS, 'zh_CN-ssh.png') });

    // stopped: asks first, in Chinese
    await panel.getByRole('button', { name: '停止', exact: true }).click();
    const dialog = page.locator('.jp-Dialog');
    await expect(dialog).toBeVisible();
    await expectChinese(dialog, 'stop dialog');
    await dialog.getByRole('button', { name: '停止' }).click();
    await waitState(panel, 'stopped');
    await checkState(page, panel, 'stopped', [status]);

    // an upstream error: ModelArts refuses the start (503); our words are Chinese, the cloud's kept
    const fault = await request.post(`${url}/_emulator/faults`, {
      data: {
        kind: 'http_503',
        route: 'start',
        count: 50,
        error_msg: 'Service busy, try later'
      }
    });
    expect(fault.ok()).toBeTruthy();
    try {
      await panel.getByRole('button', { name: '启动', exact: true }).click();
      const alert = panel.locator('.jp-CodeLab-error[role="alert"]').first();
      await expect(alert).toBeVisible({ timeout: 60_000 });
      await expect(alert).toContainText('Service busy, try later');
      await expect(alert).toContainText(/[\u4e00-\u9fff]/);
      await checkState(page, panel, 'upstream-error', [status]);
    } finally {
      await request.delete(`${url}/_emulator/faults`);
    }

    // failed: the reason as the cloud sent it, our words around it in Chinese
    await ensureNone(request);
    await request.post(`${url}/_emulator/fail_step`, {
      data: { step: 2, fail_reason: 'Flavor sold out (ModelArts.6329)' }
    });
    await page.reload();
    const again = await openPanel(page);
    await waitState(again, 'none');
    await again.getByRole('button', { name: '打开 CodeLab' }).click();
    await waitState(again, 'failed');
    const reason = again.getByText('Flavor sold out (ModelArts.6329)');
    await expect(reason).toBeVisible();
    // Huawei Cloud's own words are data: everything else is ours
    await reason.evaluate(node => node.setAttribute('data-cloud-text', ''));
    await checkState(page, again, 'failed', [status]);
  });

  test.describe('with the settings as the server keeps them', () => {
    // Galata's in-memory copy of the settings would answer from its first list; here the page
    // reads them from the server, as a user's JupyterLab does
    test.use({ mockSettings: false });
    test('the settings editor shows our settings in Chinese', async ({
      page
    }) => {
      await page.evaluate(async () => {
        await window.jupyterapp.commands.execute('settingeditor:open', {
          query: 'CodeLab'
        });
      });
      const editor = page
        .locator('.jp-SettingsPanel, .jp-SettingsEditor')
        .first();
      await expect(editor.getByText('默认镜像').first()).toBeVisible({
        timeout: 30_000
      });
      await expect(
        editor.getByText('运行时长提醒（分钟）').first()
      ).toBeVisible();
      await expect(
        editor.getByText('Default image', { exact: true })
      ).toHaveCount(0);
      await expect(
        editor.getByText('SSH identity file', { exact: true })
      ).toHaveCount(0);
      await readmeShot(page, 'zh_CN-settings');
    });
  });
});
