/**
 * codelab-ext: open a Huawei Cloud ModelArts CodeLab instance from JupyterLab.
 */
import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, Notification } from '@jupyterlab/apputils';
import { FileBrowser, IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { Toolbar } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { IStatusBar } from '@jupyterlab/statusbar';
import {
  ITranslator,
  nullTranslator,
  TranslationBundle
} from '@jupyterlab/translation';

import { copyText } from './clipboard';
import { addCommands } from './commands';
import { confirmShorten, confirmSwitch } from './dialogs';
import { codelabIcon } from './icons';
import { CodeLabClient } from './api';
import { followExpiringToast, showExpiringToast } from './expiring';
import { followInstanceKernels } from './kernels';
import { imageLabel } from './logic';
import { CodeLabModel } from './model';
import { SshInstaller } from './sshinstall';
import {
  CommandIDs,
  DEFAULT_SETTINGS,
  ICodeLabModel,
  ICodeLabNotice,
  ICodeLabSettings,
  PANEL_ID,
  PLUGIN_ID
} from './tokens';
import {
  CodeLabPanel,
  CodeLabStatusItem,
  NotebookLeaseItem
} from './widgets/CodeLabPanel';
import { WorkspaceClient } from './workspace/api';
import { addWorkspaceCommands } from './workspace/commands';
import { confirmFilesNotHome, confirmUnlink } from './workspace/dialogs';
import { WorkspaceModel } from './workspace/model';

// The token and the shapes other plugins use with it (`requires: [ICodeLabModel]`).
export * from './tokens';

/** Query parameters of the deep link `…/lab?codelab-share=<url>&codelab-image=<id>`. */
export const DEEP_LINK_SHARE = 'codelab-share';
export const DEEP_LINK_IMAGE = 'codelab-image';

/** Read (and remove from the address bar) the deep-link parameters. */
export function takeDeepLink(): {
  shareUrl: string | null;
  imageId: string | null;
} | null {
  const url = new URL(window.location.href);
  const shareUrl = url.searchParams.get(DEEP_LINK_SHARE);
  const imageId = url.searchParams.get(DEEP_LINK_IMAGE);
  if (shareUrl === null && imageId === null) {
    return null;
  }
  url.searchParams.delete(DEEP_LINK_SHARE);
  url.searchParams.delete(DEEP_LINK_IMAGE);
  window.history.replaceState(window.history.state, '', url.toString());
  return { shareUrl, imageId };
}

function showNotice(
  app: JupyterFrontEnd,
  trans: TranslationBundle,
  notice: ICodeLabNotice
): void {
  const { instance } = notice;
  switch (notice.kind) {
    case 'ready': {
      const url = instance.url;
      Notification.success(
        trans.__(
          'CodeLab is ready (%1).',
          imageLabel(instance.image) || instance.id
        ),
        {
          autoClose: 10000,
          actions: url
            ? [
                {
                  label: trans.__('Open in new tab'),
                  callback: () => {
                    window.open(url, '_blank', 'noopener');
                  }
                }
              ]
            : []
        }
      );
      break;
    }
    case 'failed':
      Notification.error(
        trans.__(
          'CodeLab could not start: %1',
          instance.fail_reason || instance.status
        ),
        {
          autoClose: false,
          actions: [
            {
              label: trans.__('Retry'),
              callback: () => void app.commands.execute(CommandIDs.open)
            }
          ]
        }
      );
      break;
    case 'expiring':
      showExpiringToast(
        trans,
        notice.remainingMs ?? 0,
        () => void app.commands.execute(CommandIDs.extend, { hours: 1 })
      );
      break;
    case 'stopped':
      Notification.info(
        trans.__('The CodeLab instance stopped (its lease ended).'),
        { autoClose: 10000 }
      );
      break;
  }
}

const plugin: JupyterFrontEndPlugin<ICodeLabModel> = {
  id: PLUGIN_ID,
  description:
    'A sidebar that opens a ModelArts CodeLab instance: image, shared notebook, progress, lease and SSH.',
  autoStart: true,
  provides: ICodeLabModel,
  optional: [
    ICommandPalette,
    ILayoutRestorer,
    ITranslator,
    ISettingRegistry,
    IStateDB,
    ILauncher,
    IStatusBar,
    IDefaultFileBrowser
  ],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    translator: ITranslator | null,
    settingRegistry: ISettingRegistry | null,
    stateDB: IStateDB | null,
    launcher: ILauncher | null,
    statusBar: IStatusBar | null,
    fileBrowser: FileBrowser | null
  ): ICodeLabModel => {
    translator = translator ?? nullTranslator;
    const trans = translator.load('codelab_ext');

    let settings: ISettingRegistry.ISettings | null = null;
    const model = new CodeLabModel({
      serverSettings: app.serviceManager.serverSettings,
      translator,
      state: stateDB,
      confirmSwitch: (_running, _target, message) =>
        confirmSwitch(trans, message),
      confirmShorten: (_current, hours, message) =>
        confirmShorten(trans, hours, message),
      confirmFilesNotHome: (instance, body) =>
        confirmFilesNotHome(trans, instance, body),
      saveIdentityFile: path => {
        void settings?.set('identityFile', path).catch(reason => {
          console.warn('codelab-ext: could not save the identity file', reason);
        });
      }
    });
    model.notice.connect((_, notice) => showNotice(app, trans, notice));
    const workspace = new WorkspaceModel({
      codelab: model,
      api: new WorkspaceClient({
        serverSettings: app.serviceManager.serverSettings,
        translator
      }),
      translator
    });
    followExpiringToast(model, trans, () => workspace.notHome);

    const client = new CodeLabClient({
      serverSettings: app.serviceManager.serverSettings,
      translator
    });
    const installer = new SshInstaller((id, body) =>
      client.installSshConfig(id, body)
    );

    const panel = new CodeLabPanel(
      model,
      trans,
      {
        open: () => void app.commands.execute(CommandIDs.open),
        start: () => void app.commands.execute(CommandIDs.start),
        stop: () => void app.commands.execute(CommandIDs.stop),
        extend: hours =>
          void app.commands.execute(CommandIDs.extend, { hours }),
        installSshConfig: () =>
          void app.commands.execute(CommandIDs.installSshConfig),
        copySshConfig: () =>
          void app.commands.execute(CommandIDs.copySshConfig),
        copySshCommand: command => {
          void copyText(command).then(() =>
            Notification.success(
              trans.__('ssh command copied to the clipboard.'),
              {
                autoClose: 3000
              }
            )
          );
        }
      },
      installer,
      {
        model: workspace,
        actions: {
          currentFolder: () => fileBrowser?.model.path ?? null,
          openFile: path =>
            void app.commands.execute('docmanager:open', { path }),
          extend: () =>
            void app.commands.execute(CommandIDs.extend, { hours: 1 }),
          confirmUnlink: link => confirmUnlink(trans, link)
        }
      },
      {
        sources: app.serviceManager,
        actions: {
          open: item =>
            void app.commands.execute(
              item.type === 'console' ? 'console:open' : 'docmanager:open',
              { path: item.path }
            )
        }
      }
    );
    followInstanceKernels(
      model.instanceChanged,
      app.serviceManager.kernelspecs
    );
    // notebooks on the instance's kernel: the lease countdown with Extend in their toolbar
    app.docRegistry.addWidgetExtension('Notebook', {
      createNew: (widget, context) => {
        // a notebook's document widget (the extension point types it as a plain Widget)
        const toolbar = (widget as Widget & { toolbar?: Toolbar }).toolbar;
        const session = context.sessionContext;
        const item = new NotebookLeaseItem(
          model,
          trans,
          {
            kernelName: () => session.session?.kernel?.name ?? '',
            kernelChanged: session.kernelChanged
          },
          app.serviceManager.kernelspecs,
          () => void app.commands.execute(CommandIDs.extend)
        );
        if (
          toolbar &&
          !toolbar.insertBefore('kernelName', 'codelabLease', item)
        ) {
          toolbar.addItem('codelabLease', item);
        }
        return item;
      }
    });
    panel.id = PANEL_ID;
    panel.title.icon = codelabIcon;
    panel.title.caption = trans.__('CodeLab');
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, PANEL_ID);

    addCommands(app, model, trans, palette, installer);
    addWorkspaceCommands(app, model, workspace, trans, fileBrowser, palette);

    launcher?.add({
      command: CommandIDs.showPanel,
      args: { isLauncher: true },
      category: trans.__('Other'),
      rank: 10
    });

    if (statusBar) {
      const item = new CodeLabStatusItem(model, trans, () =>
        app.shell.activateById(PANEL_ID)
      );
      statusBar.registerStatusItem(`${PLUGIN_ID}:countdown`, {
        item,
        align: 'left',
        rank: 10,
        isActive: () => !!model.instance,
        activeStateChanged: model.stateChanged
      });
    }

    if (settingRegistry) {
      // JupyterLab's list of every plugin's settings (what the registry starts from) leaves an
      // extension's schema in English; fetching the plugin alone has the server translate it
      // (codelab_ext.i18n.serve_settings_translations), for the settings editor
      const english = translator.languageCode.toLowerCase().startsWith('en');
      (english
        ? settingRegistry.load(PLUGIN_ID)
        : settingRegistry
            .reload(PLUGIN_ID)
            .then(() => settingRegistry.load(PLUGIN_ID))
      )
        .then(loaded => {
          settings = loaded;
          const apply = () =>
            model.setSettings({
              ...DEFAULT_SETTINGS,
              ...(loaded.composite as Partial<ICodeLabSettings>)
            });
          apply();
          loaded.changed.connect(apply);
        })
        .catch(reason => {
          console.warn('codelab-ext: settings not loaded', reason);
        });
    }

    void app.restored.then(() => {
      const link = takeDeepLink();
      if (link) {
        model.prefill(link);
        app.shell.activateById(PANEL_ID);
      }
      // a visible panel refreshes itself (onAfterShow); a closed one costs one request
      if (!panel.isVisible) {
        void model.peek();
      }
    });
    return model;
  }
};

export default plugin;
