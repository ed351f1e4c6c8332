import { TranslationBundle } from '@jupyterlab/translation';
import React from 'react';

import { checkShareUrl, ShareUrlCheck } from '../logic';
import { CodeLabModel, INVALID_SHARE_URL } from '../model';
import { ErrorLine, Section } from './Section';
import { useModel } from './useModel';

function shareHint(
  check: ShareUrlCheck,
  trans: TranslationBundle
): { text: string; tone: 'hint' | 'warn' | 'error' } {
  switch (check.kind) {
    case 'empty':
      return {
        text: trans.__(
          'Optional: the http(s) URL of a notebook (.ipynb) to open in the instance. GitHub pages are accepted.'
        ),
        tone: 'hint'
      };
    case 'invalid':
      switch (check.reason) {
        case 'scheme':
          return {
            text: trans.__('Only http:// and https:// URLs can be shared.'),
            tone: 'error'
          };
        case 'spaces':
          return {
            text: trans.__('A URL cannot contain spaces.'),
            tone: 'error'
          };
        default:
          return {
            text: trans.__(
              'This is not a complete URL (e.g. https://example.com/notebook.ipynb).'
            ),
            tone: 'error'
          };
      }
    case 'ok':
      if (check.converted) {
        return {
          text: trans.__('Will be sent as: %1', check.url),
          tone: 'hint'
        };
      }
      if (!check.looksLikeNotebook) {
        return {
          text: trans.__(
            'This does not end in .ipynb: ModelArts expects a notebook file.'
          ),
          tone: 'warn'
        };
      }
      return { text: trans.__('Will be sent as: %1', check.url), tone: 'hint' };
  }
}

/** Shared notebook URL (validated as you type) and the Open CodeLab button. */
export function OpenSection(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onOpen: () => void;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const check = checkShareUrl(model.shareUrl);
  const hint = shareHint(check, trans);
  const openError =
    model.openError === INVALID_SHARE_URL ? null : model.openError;

  return (
    <Section id="open" title={trans.__('Shared notebook')}>
      <div className="jp-CodeLab-field">
        <label htmlFor="codelab-share-url">{trans.__('Notebook URL')}</label>
        <input
          id="codelab-share-url"
          type="url"
          inputMode="url"
          className="jp-mod-styled"
          placeholder="https://…/notebook.ipynb"
          spellCheck={false}
          autoComplete="off"
          aria-invalid={check.kind === 'invalid'}
          aria-describedby="codelab-share-url-hint"
          value={model.shareUrl}
          onChange={e => model.setShareUrl(e.target.value)}
          onKeyDown={e => {
            if (e.key === 'Enter' && model.canOpen) {
              props.onOpen();
            }
          }}
        />
        <p
          id="codelab-share-url-hint"
          className={`jp-CodeLab-hint jp-CodeLab-tone-${hint.tone}`}
          aria-live="polite"
        >
          {hint.text}
        </p>
      </div>
      <button
        type="button"
        className="jp-CodeLab-button jp-CodeLab-openButton jp-mod-styled jp-mod-accept"
        disabled={!model.canOpen}
        aria-busy={model.opening}
        onClick={props.onOpen}
      >
        {model.opening ? trans.__('Opening…') : trans.__('Open CodeLab')}
      </button>
      {!model.signedIn && model.status && (
        <p className="jp-CodeLab-hint">
          {trans.__('Sign in first to open CodeLab.')}
        </p>
      )}
      {openError && (
        <ErrorLine
          message={openError}
          action={{ label: trans.__('Retry'), onClick: props.onOpen }}
        />
      )}
    </Section>
  );
}
