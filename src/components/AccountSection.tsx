import { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';

import { CodeLabModel } from '../model';
import { ActionButton, ErrorLine, Section } from './Section';
import { useModel } from './useModel';

/** Readable names of the credential sources of the server. */
function sourceLabel(
  source: string | null,
  demo: boolean,
  trans: TranslationBundle
): string {
  if (demo) {
    return trans.__('demo account of the emulator');
  }
  switch (source) {
    case 'environment':
      return trans.__('environment variables');
    case 'stored':
      return trans.__('signed in here');
    case 'sdk-profile':
      return trans.__('SDK profile (~/.huaweicloud/credentials)');
    case 'koocli-profile':
      return trans.__('KooCLI profile (~/.hcloud/config.json)');
    case 'iam-password':
      return trans.__('IAM user and password');
    default:
      return source ?? '';
  }
}

/** The sign-in form: AK, SK, optional token, project and region. */
export function SignInForm(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onCancel?: () => void;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const [accessKey, setAccessKey] = useState('');
  const [secretKey, setSecretKey] = useState('');
  const [token, setToken] = useState('');
  const [projectId, setProjectId] = useState('');
  const [region, setRegion] = useState(model.status?.region ?? '');
  // the server's list (GET status): free text is still allowed, with a warning
  const regions = model.status?.regions ?? [];
  const unknownRegion =
    regions.length > 0 &&
    region.trim() !== '' &&
    !regions.includes(region.trim());

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const ok = await model.signIn({
      access_key: accessKey.trim(),
      secret_key: secretKey.trim(),
      security_token: token.trim() || undefined,
      project_id: projectId.trim() || undefined,
      region: region.trim() || undefined
    });
    if (ok) {
      setSecretKey('');
      setToken('');
      props.onCancel?.();
    }
  };

  const field = (
    id: string,
    label: string,
    value: string,
    set: (v: string) => void,
    options: {
      secret?: boolean;
      required?: boolean;
      placeholder?: string;
      list?: string;
    } = {}
  ) => (
    <div className="jp-CodeLab-field">
      <label htmlFor={`codelab-${id}`}>{label}</label>
      <input
        id={`codelab-${id}`}
        name={id}
        className="jp-mod-styled"
        type={options.secret ? 'password' : 'text'}
        autoComplete={options.secret ? 'new-password' : 'off'}
        spellCheck={false}
        required={options.required}
        placeholder={options.placeholder}
        list={options.list}
        value={value}
        onChange={e => set(e.target.value)}
      />
    </div>
  );

  return (
    <form
      className="jp-CodeLab-signIn"
      onSubmit={submit}
      aria-label={trans.__('Sign in to Huawei Cloud')}
    >
      {field(
        'access-key',
        trans.__('Access key (AK)'),
        accessKey,
        setAccessKey,
        {
          required: true
        }
      )}
      {field(
        'secret-key',
        trans.__('Secret key (SK)'),
        secretKey,
        setSecretKey,
        {
          secret: true,
          required: true
        }
      )}
      {field(
        'security-token',
        trans.__('Security token (temporary credentials only)'),
        token,
        setToken,
        { secret: true }
      )}
      {field('project-id', trans.__('Project id'), projectId, setProjectId, {
        placeholder: trans.__('discovered from the region')
      })}
      {field('region', trans.__('Region'), region, setRegion, {
        placeholder: 'cn-north-4',
        list: regions.length ? 'codelab-regions' : undefined
      })}
      {regions.length > 0 && (
        <datalist id="codelab-regions">
          {regions.map(r => (
            <option key={r} value={r} />
          ))}
        </datalist>
      )}
      {unknownRegion && (
        <p className="jp-CodeLab-warning" role="status">
          {trans.__(
            '“%1” is not a region ModelArts is known to run in: the server will refuse it.',
            region.trim()
          )}
        </p>
      )}
      <p className="jp-CodeLab-hint">
        {trans.__(
          'The keys are checked against Huawei Cloud, then kept by the Jupyter server only; the secret key never comes back to the browser.'
        )}
      </p>
      {model.signInError && <ErrorLine message={model.signInError} />}
      <div className="jp-CodeLab-actions">
        <ActionButton
          type="submit"
          kind="accept"
          disabled={model.signingIn || !accessKey.trim() || !secretKey.trim()}
        >
          {model.signingIn ? trans.__('Signing in…') : trans.__('Sign in')}
        </ActionButton>
        {props.onCancel && (
          <ActionButton onClick={props.onCancel}>
            {trans.__('Cancel')}
          </ActionButton>
        )}
      </div>
    </form>
  );
}

/** Region, masked key and where it comes from; sign in / sign out. */
export function AccountSection(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const [editing, setEditing] = useState(false);
  const status = model.status;

  let body: JSX.Element;
  if (!status) {
    body = model.statusError ? (
      <ErrorLine
        message={model.statusError}
        action={{
          label: trans.__('Retry'),
          onClick: () => void model.refresh()
        }}
      />
    ) : (
      <p className="jp-CodeLab-hint" aria-busy="true">
        {trans.__('Connecting to the Jupyter server…')}
      </p>
    );
  } else if (!status.credentials.configured || editing) {
    body = (
      <>
        {!status.credentials.configured && (
          <p className="jp-CodeLab-hint">
            {trans.__(
              'Sign in with an access key of your Huawei Cloud account to open CodeLab.'
            )}
          </p>
        )}
        {!status.credentials.configured && status.credentials.error && (
          <ErrorLine message={status.credentials.error} />
        )}
        {!status.credentials.configured && status.emulator && (
          <div className="jp-CodeLab-actions">
            <ActionButton
              kind="accept"
              disabled={model.signingIn}
              onClick={() => void model.useDemoAccount()}
            >
              {trans.__('Use the demo account')}
            </ActionButton>
            <p className="jp-CodeLab-hint">
              {trans.__(
                'The emulator’s demo account needs no keys; or sign in with keys below.'
              )}
            </p>
          </div>
        )}
        <SignInForm
          model={model}
          trans={trans}
          onCancel={editing ? () => setEditing(false) : undefined}
        />
      </>
    );
  } else {
    const source = status.credentials.source;
    const isDemo = status.demo_account === true;
    body = (
      <>
        <dl className="jp-CodeLab-facts">
          <dt>{trans.__('Region')}</dt>
          <dd>{status.region}</dd>
          <dt>{trans.__('Access key')}</dt>
          <dd>
            <code>{status.credentials.access_key ?? '—'}</code>
          </dd>
          <dt>{trans.__('From')}</dt>
          <dd>{sourceLabel(source, isDemo, trans)}</dd>
        </dl>
        <div className="jp-CodeLab-actions">
          {source === 'stored' ? (
            <ActionButton
              data-action="sign-out"
              onClick={() => void model.signOut()}
            >
              {trans.__('Sign out')}
            </ActionButton>
          ) : (
            <ActionButton
              data-action="use-other-keys"
              onClick={() => setEditing(true)}
              title={trans.__(
                'Keys typed here are used when no environment variable is set.'
              )}
            >
              {trans.__('Use other keys')}
            </ActionButton>
          )}
        </div>
      </>
    );
  }

  return (
    <Section id="account" title={trans.__('Account')}>
      {body}
    </Section>
  );
}
