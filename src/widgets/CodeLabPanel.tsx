import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import React from 'react';

import { CodeLabSidebar, IPanelActions } from '../components/CodeLabSidebar';
import { IDocumentKernel, NotebookLease } from '../components/NotebookLease';
import { LeaseCountdown } from '../components/LeaseCountdown';
import { CodeLabModel } from '../model';
import { SshInstaller } from '../sshinstall';
import { IWorkspaceActions } from '../components/WorkspaceSection';
import { IKernelsActions, IKernelSources } from '../components/KernelsSection';
import { WorkspaceModel } from '../workspace/model';

/** The CodeLab sidebar widget: renders the model, refreshes it when shown. */
export class CodeLabPanel extends ReactWidget {
  constructor(
    readonly model: CodeLabModel,
    private readonly trans: TranslationBundle,
    private readonly actions: IPanelActions,
    private readonly installer: SshInstaller,
    private readonly workspace?: {
      model: WorkspaceModel;
      actions: IWorkspaceActions;
    },
    private readonly kernels?: {
      sources: IKernelSources;
      actions: IKernelsActions;
    }
  ) {
    super();
    this.addClass('jp-CodeLabPanel');
  }

  protected override onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
    void this.workspace?.model.refresh();
  }

  protected render(): JSX.Element {
    return (
      <CodeLabSidebar
        model={this.model}
        trans={this.trans}
        actions={this.actions}
        installer={this.installer}
        workspace={this.workspace}
        kernels={this.kernels}
      />
    );
  }
}

/** The status-bar item with the lease countdown. */
export class CodeLabStatusItem extends ReactWidget {
  constructor(
    private readonly model: CodeLabModel,
    private readonly trans: TranslationBundle,
    private readonly onClick: () => void
  ) {
    super();
    this.addClass('jp-CodeLab-status-widget');
  }

  protected render(): JSX.Element {
    return (
      <LeaseCountdown
        model={this.model}
        trans={this.trans}
        onClick={this.onClick}
      />
    );
  }
}

/** The notebook toolbar's lease countdown with Extend (notebooks on the instance's kernel). */
export class NotebookLeaseItem extends ReactWidget {
  constructor(
    private readonly model: CodeLabModel,
    private readonly trans: TranslationBundle,
    private readonly kernel: IDocumentKernel,
    private readonly kernelspecs: IKernelSources['kernelspecs'],
    private readonly onExtend: () => void
  ) {
    super();
    this.addClass('jp-CodeLab-notebookLease-widget');
  }

  protected render(): JSX.Element {
    return (
      <NotebookLease
        model={this.model}
        trans={this.trans}
        kernel={this.kernel}
        kernelspecs={this.kernelspecs}
        onExtend={this.onExtend}
      />
    );
  }
}
