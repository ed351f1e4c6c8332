/**
 * Galata (Playwright) configuration: Debian's chromium, never a downloaded browser,
 * and JupyterLab on the ModelArts emulator started for the run.
 */
const baseConfig = require('@jupyterlab/galata/lib/playwright-config');

// workspace.spec.ts and kernels.spec.ts need a real Jupyter server behind each emulated instance; the
// other specs time the panel without one. `make test-ui` runs both sets, one server each (the workspace
// and kernel specs share theirs, in either order: each replaces the instance the other left).
const instanceServers = process.env.CODELAB_EMULATOR_INSTANCE_SERVERS === '1';
const WORKSPACE_SPECS = ['**/workspace.spec.ts', '**/kernels.spec.ts'];

module.exports = {
  ...baseConfig,
  // One emulator holds one free instance: the tests take turns.
  workers: 1,
  fullyParallel: false,
  ...(instanceServers
    ? { testMatch: WORKSPACE_SPECS }
    : { testIgnore: WORKSPACE_SPECS }),
  retries: process.env.CI ? 1 : 0,
  reporter: [['list'], ['html', { open: 'never' }]],
  timeout: 120000,
  expect: {
    timeout: 30000,
    toHaveScreenshot: { maxDiffPixelRatio: 0.03, animations: 'disabled' }
  },
  use: {
    ...baseConfig.use,
    baseURL: 'http://localhost:8888',
    // The most common laptop screen: the tests assert what is IN this viewport.
    viewport: { width: 1366, height: 768 },
    trace: 'retain-on-failure',
    // Playwright records video with its own ffmpeg download: off on this offline machine.
    video: 'off',
    launchOptions: {
      executablePath: '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run'
      ]
    }
  },
  webServer: {
    command: 'jlpm start',
    url: 'http://localhost:8888/lab',
    timeout: 120 * 1000,
    reuseExistingServer: !process.env.CI
  }
};
