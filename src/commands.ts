import { JupyterFrontEnd } from '@jupyterlab/application';
import {
  ICommandPalette,
  InputDialog,
  Notification
} from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';

import { copyText } from './clipboard';
import { confirmStop } from './dialogs';
import { codelabIcon } from './icons';
import { hoursLabel } from './labels';
import { CodeLabModel } from './model';
import { SshInstaller } from './sshinstall';
import { CommandIDs, PALETTE_CATEGORY, PANEL_ID } from './tokens';

/** Arguments of `codelab:open-shared`. */
interface IOpenSharedArgs {
  url?: string;
  imageId?: string;
}

/** Register every CodeLab command once; add them to the palette. */
export function addCommands(
  app: JupyterFrontEnd,
  model: CodeLabModel,
  trans: TranslationBundle,
  palette: ICommandPalette | null,
  installer: SshInstaller
): void {
  const { commands, shell } = app;
  const showPanel = () => shell.activateById(PANEL_ID);

  const open = async () => {
    showPanel();
    if (!model.signedIn) {
      await model.refresh();
      if (!model.signedIn) {
        return;
      }
    }
    await model.open();
  };

  commands.addCommand(CommandIDs.showPanel, {
    label: args =>
      args.isLauncher ? trans.__('CodeLab') : trans.__('Show CodeLab Panel'),
    caption: trans.__('Open a free ModelArts CodeLab instance'),
    icon: args => (args.isPalette ? undefined : codelabIcon),
    execute: showPanel
  });

  commands.addCommand(CommandIDs.open, {
    label: trans.__('Open CodeLab'),
    caption: trans.__('Open CodeLab with the image selected in the panel'),
    isEnabled: () => !model.opening,
    execute: open
  });

  commands.addCommand(CommandIDs.openShared, {
    label: trans.__('Open Shared Notebook in CodeLab…'),
    caption: trans.__('Open CodeLab with a notebook from a URL'),
    execute: async args => {
      const { url, imageId } = args as IOpenSharedArgs;
      let text = typeof url === 'string' ? url : '';
      if (!text) {
        const answer = await InputDialog.getText({
          title: trans.__('Open a Shared Notebook in CodeLab'),
          label: trans.__(
            'Notebook URL (http or https; GitHub, GitLab and Gitee pages accepted)'
          ),
          placeholder: 'https://…/notebook.ipynb',
          text: model.shareUrl,
          okLabel: trans.__('Open')
        });
        if (!answer.button.accept || !answer.value) {
          return;
        }
        text = answer.value;
      }
      model.prefill({ shareUrl: text, imageId });
      // the server's verdict on the URL: anything but a clean answer is shown in the panel
      if ((await model.checkShareUrl()).kind !== 'ok') {
        showPanel();
        return;
      }
      await open();
    }
  });

  commands.addCommand(CommandIDs.copySshConfig, {
    label: trans.__('Copy CodeLab SSH Config'),
    caption: trans.__('Copy the SSH config block of the CodeLab instance'),
    isEnabled: () => !!model.sshConfig,
    execute: async () => {
      if (!model.sshConfig) {
        return;
      }
      await copyText(model.sshConfig);
      Notification.success(trans.__('SSH config copied to the clipboard.'), {
        autoClose: 3000
      });
    }
  });

  commands.addCommand(CommandIDs.extend, {
    label: args =>
      typeof args.hours === 'number'
        ? trans._n(
            'Keep CodeLab Running %1 More Hour',
            'Keep CodeLab Running %1 More Hours',
            args.hours
          )
        : trans.__('Extend CodeLab…'),
    caption: trans.__('Keep the CodeLab instance running longer'),
    isEnabled: () => model.isRunning && model.busy === null,
    execute: async args => {
      let hours = typeof args.hours === 'number' ? args.hours : NaN;
      if (!(hours > 0)) {
        const choices = model.extendChoices;
        const labels = choices.map(h => hoursLabel(trans, h));
        const answer = await InputDialog.getItem({
          title: trans.__('Extend CodeLab'),
          label: trans.__('Keep the instance running, from now, for'),
          items: labels,
          current: 0,
          okLabel: trans.__('Extend')
        });
        if (!answer.button.accept || answer.value === null) {
          return;
        }
        hours = choices[labels.indexOf(answer.value)];
      }
      const ok = await model.extend(hours);
      if (ok) {
        const deadline = model.deadline;
        Notification.success(
          deadline
            ? trans.__(
                'CodeLab now stops at %1.',
                new Date(deadline).toLocaleTimeString()
              )
            : trans.__('CodeLab lease extended.'),
          { autoClose: 5000 }
        );
      } else if (model.actionError) {
        Notification.error(
          trans.__('Could not extend CodeLab: %1', model.actionError),
          { autoClose: false }
        );
      }
    }
  });

  commands.addCommand(CommandIDs.stop, {
    label: trans.__('Stop CodeLab…'),
    caption: trans.__('Stop the CodeLab instance (asks first)'),
    isEnabled: () =>
      (model.isRunning || model.isTransitional) && model.busy === null,
    execute: async () => {
      const instance = model.instance;
      if (!instance || !(await confirmStop(trans, instance))) {
        return;
      }
      await model.stop();
      if (model.actionError) {
        Notification.error(
          trans.__('Could not stop CodeLab: %1', model.actionError),
          { autoClose: false }
        );
      }
    }
  });

  commands.addCommand(CommandIDs.start, {
    label: trans.__('Start CodeLab'),
    caption: trans.__('Start the stopped CodeLab instance again'),
    isEnabled: () =>
      !!model.instance &&
      !model.isRunning &&
      !model.isTransitional &&
      model.busy === null,
    execute: async () => {
      showPanel();
      await model.start();
      if (model.actionError) {
        Notification.error(
          trans.__('Could not start CodeLab: %1', model.actionError),
          { autoClose: false }
        );
      }
    }
  });

  commands.addCommand(CommandIDs.openInstance, {
    label: trans.__('Open CodeLab Instance in New Tab'),
    caption: trans.__('Open the running instance’s JupyterLab in a new tab'),
    isEnabled: () => model.isRunning && !!model.instance?.url,
    execute: () => {
      const url = model.instance?.url;
      if (model.isRunning && url) {
        window.open(url, '_blank', 'noopener');
      }
    }
  });

  /**
   * Scroll a target into view and keep it there while the panel is still laying out (sections that
   * load after it is shown, such as the workspace, would push it out of view), as long as it has the
   * focus, for a short while.
   */
  const keepInView = (target: HTMLElement): void => {
    target.scrollIntoView({ block: 'center' });
    const body = document.querySelector(`#${PANEL_ID} .jp-CodeLab-body`);
    if (!body || typeof ResizeObserver === 'undefined') {
      return;
    }
    const observer = new ResizeObserver(() => {
      if (document.activeElement === target) {
        target.scrollIntoView({ block: 'center' });
      }
    });
    observer.observe(body);
    window.setTimeout(() => observer.disconnect(), 3000);
  };

  commands.addCommand(CommandIDs.signIn, {
    label: trans.__('Sign In to Huawei Cloud…'),
    caption: trans.__('Show the CodeLab sign-in form'),
    execute: () => {
      showPanel();
      const focus = () => {
        const field = document.getElementById('codelab-access-key');
        if (field) {
          field.focus();
          return true;
        }
        return false;
      };
      if (focus()) {
        return;
      }
      // signed in from the environment or a profile: the account section offers other keys
      const other = document.querySelector<HTMLButtonElement>(
        '[data-action="use-other-keys"]'
      );
      if (other) {
        other.click();
        requestAnimationFrame(() => focus());
        return;
      }
      // signed in with keys stored here: say with which, and show where to sign out
      const signOut = document.querySelector<HTMLButtonElement>(
        `#${PANEL_ID} [data-section="account"] [data-action="sign-out"]`
      );
      if (signOut) {
        signOut.focus();
        keepInView(signOut);
      }
      const key = model.status?.credentials.access_key;
      if (model.signedIn && key) {
        Notification.info(
          trans.__(
            'Already signed in to Huawei Cloud with access key %1. To use other keys, sign out in the CodeLab panel first.',
            key
          ),
          { autoClose: 8000 }
        );
      }
    }
  });

  commands.addCommand(CommandIDs.installSshConfig, {
    label: trans.__('Install CodeLab SSH Config'),
    caption: trans.__(
      'Install the SSH config of the instance in ~/.ssh of the machine running Jupyter'
    ),
    isEnabled: () => !!model.sshConfig && !installer.installing,
    execute: async () => {
      const id = model.instance?.id;
      if (!id || !model.sshConfig) {
        return;
      }
      if (await installer.install(id, model.identityFile)) {
        const result = installer.result(id);
        Notification.success(
          trans.__(
            'SSH config installed. Connect with: %1',
            result?.command ?? ''
          ),
          { autoClose: 5000 }
        );
      } else if (installer.error) {
        Notification.error(
          trans.__('Could not install the SSH config: %1', installer.error),
          { autoClose: false }
        );
      }
    }
  });

  // Commands' enabled state follows the model; tell the UI only when it changes.
  let last = '';
  const notify = () => {
    const key = [
      model.opening,
      model.isRunning,
      model.isTransitional,
      model.busy,
      !!model.sshConfig,
      !!model.instance,
      installer.installing
    ].join('|');
    if (key !== last) {
      last = key;
      commands.notifyCommandChanged();
    }
  };
  model.stateChanged.connect(notify);
  installer.changed.connect(notify);

  const category = trans.__(PALETTE_CATEGORY);
  for (const command of [
    CommandIDs.showPanel,
    CommandIDs.open,
    CommandIDs.openShared,
    CommandIDs.openInstance,
    CommandIDs.start,
    CommandIDs.signIn,
    CommandIDs.installSshConfig,
    CommandIDs.copySshConfig,
    CommandIDs.extend,
    CommandIDs.stop
  ]) {
    palette?.addItem({ command, category });
  }
}
