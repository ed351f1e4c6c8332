import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useReducer } from 'react';

import { sshConfigAlias, vscodeRemoteUrl } from '../layout';
import { CodeLabModel } from '../model';
import { SshInstaller } from '../sshinstall';
import { ActionButton, ErrorLine, Section } from './Section';
import { useModel } from './useModel';

function useInstaller(installer: SshInstaller): void {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    const onChange = () => bump();
    installer.changed.connect(onChange);
    return () => {
      installer.changed.disconnect(onChange);
    };
  }, [installer]);
}

/**
 * SSH to the running instance: the block the server renders (the same as
 * `jupyter codelab ssh-config`), Install SSH config, Open in VS Code, copy.
 */
export function SshSection(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  installer: SshInstaller;
  onInstall: () => void;
  onCopyConfig: () => void;
  onCopyCommand: (command: string) => void;
}): JSX.Element | null {
  const { model, trans, installer } = props;
  useModel(model);
  useInstaller(installer);
  const state = model.sshState;
  const instance = model.instance;
  if (!instance || state === 'none') {
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
    const installed = installer.result(instance.id);
    const alias = installed?.alias ?? sshConfigAlias(model.sshConfig);
    const command = installed?.command ?? model.sshCommand;
    body = (
      <>
        <div className="jp-CodeLab-actions">
          <ActionButton
            kind="accept"
            disabled={!model.sshConfig || installer.installing}
            onClick={props.onInstall}
            title={trans.__(
              'Writes this block into ~/.ssh/config.d/codelab (and one Include line in ~/.ssh/config) of the machine running Jupyter, as “jupyter codelab ssh-config --install” does.'
            )}
          >
            {installer.installing
              ? trans.__('Installing…')
              : trans.__('Install SSH config')}
          </ActionButton>
          {alias && (
            <a
              className="jp-CodeLab-button jp-mod-styled"
              href={vscodeRemoteUrl(alias)}
              title={trans.__(
                'Opens /home/ma-user/work in VS Code with Remote-SSH (needs the SSH config installed on this computer).'
              )}
            >
              {trans.__('Open in VS Code')}
            </a>
          )}
        </div>
        {installed && (
          <p className="jp-CodeLab-success" role="status">
            {trans.__(
              'Installed in %1. Connect with: %2',
              installed.installed,
              installed.command
            )}
          </p>
        )}
        {installer.error && <ErrorLine message={installer.error} />}
        {command && (
          <div className="jp-CodeLab-field">
            <span className="jp-CodeLab-label" id="codelab-ssh-command-label">
              {trans.__('Command')}
            </span>
            <code
              className="jp-CodeLab-sshCommand"
              aria-labelledby="codelab-ssh-command-label"
            >
              {command}
            </code>
          </div>
        )}
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
          <ActionButton
            disabled={!model.sshConfig}
            onClick={props.onCopyConfig}
          >
            {trans.__('Copy SSH config')}
          </ActionButton>
          <ActionButton
            disabled={!command}
            onClick={() => command && props.onCopyCommand(command)}
            title={command ?? undefined}
          >
            {trans.__('Copy ssh command')}
          </ActionButton>
        </div>
        <p className="jp-CodeLab-hint">
          {trans.__(
            'Host keys: the first connection records the instance’s key (StrictHostKeyChecking accept-new) in a known_hosts file of its own, ~/.ssh/codelab-<instance id>.known_hosts; later connections are checked against it. The port changes when the instance is re-created.'
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
