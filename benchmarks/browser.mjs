/**
 * Browser side of the benchmarks: Debian's Chromium driven by the playwright-core that ui-tests/ already
 * installed (never a downloaded browser). Prints one JSON object on stdout.
 *
 *   node benchmarks/browser.mjs lab-requests <lab url with token> [settle ms]
 *     load JupyterLab, wait until its shell is up, then `settle` ms more; report every request to
 *     /codelab/ routes (the CodeLab panel is not opened).
 *
 *   node benchmarks/browser.mjs click-to-running <lab url with token> <runs> <server base> <token>
 *     open the CodeLab panel, then per run: click "Open CodeLab" and time, inside the page, from the
 *     click event to the DOM showing the instance RUNNING (the panel laid out for it). Between runs the
 *     instance is stopped through the REST API and started again with the card's Start.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UI_TESTS = path.join(HERE, '..', 'ui-tests');
const CHROMIUM = process.env.CODELAB_BENCH_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run'
];
const PANEL_TAB = '.jp-SideBar .lm-TabBar-tab[data-id="codelab-ext-panel"]';
const OPEN_BUTTON = '#codelab-ext-panel button.jp-CodeLab-openButton';
const START_BUTTON =
  '#codelab-ext-panel [data-section="instance"] button:has-text("Start")';

function loadPlaywright() {
  const require = createRequire(path.join(UI_TESTS, 'package.json'));
  for (const name of ['playwright-core', '@playwright/test']) {
    try {
      return require(name);
    } catch {
      // try the next one
    }
  }
  throw new Error(
    `neither playwright-core nor @playwright/test under ${UI_TESTS}/node_modules`
  );
}

async function withPage(fn) {
  const { chromium } = loadPlaywright();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true
  });
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 1000 }
    });
    const page = await context.newPage();
    return await fn(page);
  } finally {
    await browser.close();
  }
}

async function waitForShell(page, url) {
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 60000 });
  await page.waitForSelector('#jp-main-dock-panel', {
    state: 'visible',
    timeout: 60000
  });
  await page.waitForSelector(PANEL_TAB, { state: 'attached', timeout: 60000 });
  return Date.now() - t0;
}

async function labRequests(url, settleMs) {
  return withPage(async page => {
    const requests = [];
    let all = 0;
    const t0 = Date.now();
    page.on('request', request => {
      all++;
      const { pathname } = new URL(request.url());
      if (pathname.includes('/codelab/')) {
        requests.push({
          method: request.method(),
          path: pathname,
          atMs: Date.now() - t0
        });
      }
    });
    const readyMs = await waitForShell(page, url);
    await page.waitForTimeout(settleMs);
    const panelVisible = await page.locator('#codelab-ext-panel').isVisible();
    return {
      readyMs,
      settleMs,
      totalRequests: all,
      codelabRequests: requests,
      panelVisible
    };
  });
}

async function api(base, token, method, route) {
  const response = await fetch(`${base}/codelab/${route}`, {
    method,
    headers: {
      Authorization: `token ${token}`,
      'Content-Type': 'application/json'
    },
    body: method === 'GET' ? undefined : '{}'
  });
  if (!response.ok) {
    throw new Error(`${method} codelab/${route}: HTTP ${response.status}`);
  }
  return response.json();
}

/** In the page: record the next click of a button of the panel and the first DOM state of a RUNNING instance. */
function armProbe() {
  const panel = document.getElementById('codelab-ext-panel');
  const probe = { click: null, done: null, status: null };
  window.__codelabProbe = probe;
  const check = () => {
    if (probe.click === null || probe.done !== null) {
      return;
    }
    // running: the panel lays itself out for a running instance (the steps give way to the
    // instance card, src/layout.ts) and the card says RUNNING
    const body = panel.querySelector('.jp-CodeLab-body');
    const card = panel.querySelector('[data-status]');
    const status = card ? card.getAttribute('data-status') : null;
    if (body?.getAttribute('data-state') === 'running' && status === 'RUNNING') {
      probe.done = performance.now();
      probe.status = status;
      observer.disconnect();
    }
  };
  const observer = new MutationObserver(check);
  observer.observe(panel, {
    subtree: true,
    childList: true,
    attributes: true,
    characterData: true
  });
  panel.addEventListener(
    'click',
    event => {
      if (probe.click === null && event.target.closest('button')) {
        probe.click = performance.now();
        check();
      }
    },
    { capture: true }
  );
}

async function clickToRunning(url, runs, base, token) {
  return withPage(async page => {
    await waitForShell(page, url);
    await page.click(PANEL_TAB);
    await page.waitForSelector(`${OPEN_BUTTON}:not([disabled])`, {
      timeout: 60000
    });
    const results = [];
    for (let run = 0; run < runs; run++) {
      if (run > 0) {
        const { instances } = await api(base, token, 'GET', 'instances');
        for (const instance of instances) {
          await api(base, token, 'POST', `instances/${instance.id}/stop`);
        }
        await page.waitForSelector(
          '#codelab-ext-panel [data-status="STOPPED"]',
          { timeout: 60000 }
        );
        // stopped: the card's Start is the main action (Open another image is folded)
        await page.waitForSelector(`${START_BUTTON}:not([disabled])`, {
          timeout: 60000
        });
      }
      await page.evaluate(armProbe);
      await page.click(run === 0 ? OPEN_BUTTON : START_BUTTON);
      await page.waitForFunction(
        () => window.__codelabProbe.done !== null,
        null,
        {
          timeout: 60000,
          polling: 50
        }
      );
      const probe = await page.evaluate(() => window.__codelabProbe);
      results.push({
        run,
        kind: run === 0 ? 'create' : 'start',
        ms: probe.done - probe.click
      });
    }
    return { runs: results };
  });
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  let out;
  if (mode === 'lab-requests') {
    out = await labRequests(args[0], Number(args[1] ?? 5000));
  } else if (mode === 'click-to-running') {
    out = await clickToRunning(args[0], Number(args[1] ?? 3), args[2], args[3]);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch(error => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
