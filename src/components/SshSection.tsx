import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { CodeLabModel } from '../model';
import { ErrorLine, Section } from './Section';
import { useModel } from './useModel';

/** The SSH config block, copy buttons and the identity file path. */
export function SshSection(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onCopyConfig: () => void;
  onCopyCommand: () => void;
}): JSX.Element | null {
  const { model, trans } = props;
  useModel(model);
  const state = model.sshState;
  if (!model.instance || state === 'none') {
    return null;
  }

  let body: JSX.Element;
  if (state === 'unavailable') {
    body = (
      <p className="jp-CodeLab-hint" role="note">
        {trans.__(
          'This instance has no SSH endpoint. Images with the SSH badge offer one: open CodeLab with such an image to connect from a terminal or a desktop IDE.'
        )}
      </p>
    );
  } else {
    body = (
      <>
        <div className="jp-CodeLab-field">
          <label htmlFor="codelab-identity-file">
            {trans.__('Identity file (your key pair .pem)')}
          </label>
          <input
            id="codelab-identity-file"
            type="text"
            className="jp-mod-styled"
            spellCheck={false}
            placeholder="~/.ssh/KeyPair-xxxx.pem"
            value={model.identityFile}
            onChange={e => model.setIdentityFile(e.target.value)}
          />
        </div>
        {state === 'error' && model.sshError && (
          <ErrorLine
            message={model.sshError}
            action={{
              label: trans.__('Retry'),
              onClick: () => model.reloadSsh()
            }}
          />
        )}
        <pre
          className="jp-CodeLab-sshConfig"
          aria-label={trans.__('SSH config')}
          aria-busy={state === 'loading'}
          tabIndex={0}
        >
          {model.sshConfig ?? (state === 'loading' ? trans.__('Loading…') : '')}
        </pre>
        <div className="jp-CodeLab-actions">
          <button
            type="button"
            className="jp-CodeLab-button jp-mod-styled"
            disabled={!model.sshConfig}
            onClick={props.onCopyConfig}
          >
            {trans.__('Copy SSH config')}
          </button>
          <button
            type="button"
            className="jp-CodeLab-button jp-mod-styled"
            disabled={!model.sshCommand}
            onClick={props.onCopyCommand}
            title={model.sshCommand ?? undefined}
          >
            {trans.__('Copy ssh command')}
          </button>
        </div>
        <p className="jp-CodeLab-hint">
          {trans.__(
            'Paste the block into ~/.ssh/config, then connect with “ssh codelab” or from VS Code Remote-SSH. The port changes when the instance is re-created.'
          )}
        </p>
      </>
    );
  }
  return (
    <Section id="ssh" title={trans.__('SSH')}>
      {body}
    </Section>
  );
}
