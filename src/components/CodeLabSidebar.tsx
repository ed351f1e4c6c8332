import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useRef } from 'react';

import {
  IPanelLayout,
  panelLayout,
  PanelState,
  revealsTop,
  SectionId
} from '../layout';
import { CodeLabModel } from '../model';
import { SshInstaller } from '../sshinstall';
import { AccountSection } from './AccountSection';
import { InstanceCard } from './InstanceCard';
import { LaunchSection } from './LaunchSection';
import { ProgressSteps } from './ProgressSteps';
import { SshSection } from './SshSection';
import { useModel } from './useModel';
import { IWorkspaceActions, WorkspaceSection } from './WorkspaceSection';
import {
  IKernelsActions,
  IKernelSources,
  KernelsSection
} from './KernelsSection';
import { WorkspaceModel } from '../workspace/model';

/** What the panel's buttons do that needs the application (dialogs, clipboard). */
export interface IPanelActions {
  open(): void;
  start(): void;
  stop(): void;
  extend(hours: number): void;
  installSshConfig(): void;
  copySshConfig(): void;
  copySshCommand(command: string): void;
}

/** The layout of the panel for the model's current facts. */
export function modelLayout(model: CodeLabModel): IPanelLayout {
  return panelLayout({
    statusLoaded: model.status !== null,
    signedIn: model.signedIn,
    instance: model.instance,
    opening: model.opening
  });
}

/**
 * The whole sidebar, laid out by the instance's state: the block with the
 * main action first (see `layout.ts`), "Open another image" folded under it,
 * the account last once signed in.
 */
export function CodeLabSidebar(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  actions: IPanelActions;
  installer: SshInstaller;
  /** The Workspace section (under the instance card while it runs). */
  workspace?: { model: WorkspaceModel; actions: IWorkspaceActions };
  /** The local notebooks and consoles on the instance's kernels (while it runs). */
  kernels?: { sources: IKernelSources; actions: IKernelsActions };
}): JSX.Element {
  const { model, trans, actions, installer, workspace, kernels } = props;
  useModel(model);
  const layout = modelLayout(model);
  const topRef = useRef<HTMLDivElement>(null);
  const previous = useRef<PanelState | null>(null);

  useEffect(() => {
    // a new state (Open clicked, the instance runs, stopped, failed): its block is on top, show it
    if (revealsTop(previous.current, layout.state)) {
      // the top block follows the header: scroll the panel back to its top
      const scroller = topRef.current?.closest('.jp-CodeLabPanel');
      if (scroller) {
        scroller.scrollTop = 0;
      }
    }
    previous.current = layout.state;
  }, [layout.state]);

  const render = (id: SectionId, folded = false): JSX.Element | null => {
    switch (id) {
      case 'account':
        return <AccountSection key={id} model={model} trans={trans} />;
      case 'launch':
        return (
          <LaunchSection
            key={id}
            model={model}
            trans={trans}
            onOpen={actions.open}
            folded={folded}
          />
        );
      case 'progress':
        return (
          <ProgressSteps
            key={id}
            model={model}
            trans={trans}
            onCancel={actions.stop}
          />
        );
      case 'instance':
        return (
          <React.Fragment key={id}>
            <InstanceCard
              model={model}
              trans={trans}
              state={layout.state}
              onExtend={actions.extend}
              onStop={actions.stop}
              onStart={actions.start}
            />
            {workspace && layout.state === 'running' && (
              <WorkspaceSection
                model={workspace.model}
                trans={trans}
                actions={workspace.actions}
              />
            )}
            {kernels && layout.state === 'running' && model.instance && (
              <KernelsSection
                instanceId={model.instance.id}
                sources={kernels.sources}
                trans={trans}
                actions={kernels.actions}
              />
            )}
          </React.Fragment>
        );
      case 'ssh':
        return (
          <SshSection
            key={id}
            model={model}
            trans={trans}
            installer={installer}
            onInstall={actions.installSshConfig}
            onCopyConfig={actions.copySshConfig}
            onCopyCommand={actions.copySshCommand}
          />
        );
    }
  };

  return (
    <div className="jp-CodeLab-body" data-state={layout.state}>
      <div className="jp-CodeLab-header">
        <h2>{trans.__('ModelArts CodeLab')}</h2>
        {model.status?.emulator && (
          <p className="jp-CodeLab-badge jp-CodeLab-badge-emulator">
            {trans.__('Emulator: no real cloud resources are used')}
          </p>
        )}
      </div>
      <div className="jp-CodeLab-top" ref={topRef}>
        {layout.top.map(id => render(id))}
      </div>
      {layout.folded.map(id => render(id, true))}
      {layout.bottom.map(id => render(id))}
    </div>
  );
}
