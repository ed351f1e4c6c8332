import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { CodeLabModel } from '../model';
import { AccountSection } from './AccountSection';
import { ImagePicker } from './ImagePicker';
import { InstanceCard } from './InstanceCard';
import { OpenSection } from './OpenSection';
import { ProgressSteps } from './ProgressSteps';
import { SshSection } from './SshSection';
import { useModel } from './useModel';

/** What the panel's buttons do that needs the application (dialogs, clipboard). */
export interface IPanelActions {
  open(): void;
  stop(): void;
  extend(hours: number): void;
  copySshConfig(): void;
  copySshCommand(): void;
}

/** The whole sidebar: account, image, shared notebook, progress, instance, SSH. */
export function CodeLabSidebar(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  actions: IPanelActions;
}): JSX.Element {
  const { model, trans, actions } = props;
  useModel(model);
  return (
    <div className="jp-CodeLab-body">
      <header className="jp-CodeLab-header">
        <h2>{trans.__('ModelArts CodeLab')}</h2>
        <p className="jp-CodeLab-hint">
          {trans.__('A free cloud notebook instance, one click away.')}
        </p>
      </header>
      <AccountSection model={model} trans={trans} />
      {model.signedIn && (
        <>
          <ImagePicker model={model} trans={trans} />
          <OpenSection model={model} trans={trans} onOpen={actions.open} />
          <ProgressSteps model={model} trans={trans} onRetry={actions.open} />
          <InstanceCard
            model={model}
            trans={trans}
            onExtend={actions.extend}
            onStop={actions.stop}
          />
          <SshSection
            model={model}
            trans={trans}
            onCopyConfig={actions.copySshConfig}
            onCopyCommand={actions.copySshCommand}
          />
        </>
      )}
    </div>
  );
}
