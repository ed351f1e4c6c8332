import { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';

import { hoursLabel } from '../labels';
import {
  archLabel,
  HOUR_MS,
  imageCategory,
  imageLabel,
  offersSsh
} from '../logic';
import { CodeLabModel, INVALID_SHARE_URL, ShareUrlCheck } from '../model';
import { IImage, ILeaseBounds } from '../tokens';
import { categoryLabel, ImagePicker } from './ImagePicker';
import { ActionButton, ErrorLine, Section } from './Section';
import { useModel } from './useModel';

function shareHint(
  check: ShareUrlCheck,
  trans: TranslationBundle
): { text: string; tone: 'hint' | 'warn' | 'error' } {
  switch (check.kind) {
    case 'empty':
      return {
        text: trans.__(
          'Optional: the http(s) URL of a notebook (.ipynb) to open in the instance. GitHub, GitLab and Gitee pages are accepted.'
        ),
        tone: 'hint'
      };
    case 'checking':
      return { text: trans.__('Checking the URL…'), tone: 'hint' };
    case 'invalid':
      // the server's own message (the rule is its own)
      return { text: check.message, tone: 'error' };
    case 'unchecked':
      return {
        text: trans.__(
          'The URL could not be checked (%1). The server checks it again when you open.',
          check.message
        ),
        tone: 'warn'
      };
    case 'ok':
      if (!check.converted && !check.looks_like_notebook) {
        return {
          text: trans.__(
            'This does not end in .ipynb: ModelArts expects a notebook file.'
          ),
          tone: 'warn'
        };
      }
      return {
        text: trans.__('Will be sent as: %1', check.share_url),
        tone: 'hint'
      };
  }
}

/**
 * What the chosen image runs on, before opening: category, architecture, the free flavor
 * ModelArts lists for it, SSH, and the lease rule, all as the server answered them.
 */
export function launchHint(
  image: IImage | null,
  lease: ILeaseBounds | null | undefined,
  trans: TranslationBundle
): string {
  const quota = lease
    ? trans.__(
        'One free instance per account; it stops after %1 unless you extend it (up to %2).',
        hoursLabel(trans, Math.round(lease.default_ms / HOUR_MS)),
        hoursLabel(trans, Math.round(lease.max_ms / HOUR_MS))
      )
    : trans.__('One free instance per account.');
  if (!image) {
    return quota;
  }
  const parts: string[] = [categoryLabel(imageCategory(image), trans)];
  const arch = archLabel(image.arch);
  if (arch) {
    parts.push(arch);
  }
  const flavor = image.free_flavor;
  if (flavor) {
    parts.push(flavor.description || flavor.name || flavor.id);
    if (flavor.sold_out) {
      parts.push(trans.__('sold out right now'));
    }
  } else if (flavor === null) {
    parts.push(trans.__('no free flavor listed for this image'));
  }
  if (offersSsh(image)) {
    parts.push(trans.__('SSH'));
  }
  return `${parts.join(' · ')}. ${quota}`;
}

/** The shared notebook URL field (validated as you type). */
function ShareUrlField(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onOpen: () => void;
}): JSX.Element {
  const { model, trans } = props;
  const check = model.shareUrlCheck;
  const hint = shareHint(check, trans);
  return (
    <div className="jp-CodeLab-field">
      <label htmlFor="codelab-share-url">
        {trans.__('Shared notebook URL (optional)')}
      </label>
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
  );
}

/**
 * Image, shared notebook and the Open button. The button and what it opens
 * stay in a footer stuck to the bottom of the panel: in view whatever the
 * length of the image list, at any panel height.
 */
export function LaunchSection(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onOpen: () => void;
  /** Shown under another block (running, stopped): "Open another image". */
  folded?: boolean;
}): JSX.Element {
  const { model, trans, folded } = props;
  useModel(model);
  const [expanded, setExpanded] = useState(false);
  const openError =
    model.openError === INVALID_SHARE_URL ? null : model.openError;
  const chosen = model.selectedImage;

  const body = (
    <>
      <ImagePicker model={model} trans={trans} />
      <ShareUrlField model={model} trans={trans} onOpen={props.onOpen} />
      <div className="jp-CodeLab-launchFooter" data-sticky="true">
        {chosen && (
          <p className="jp-CodeLab-chosen">
            <span className="jp-CodeLab-chosenName">{imageLabel(chosen)}</span>
          </p>
        )}
        <p className="jp-CodeLab-hint jp-CodeLab-launchHint">
          {launchHint(chosen, model.status?.lease, trans)}
        </p>
        {openError && (
          <ErrorLine
            message={openError}
            action={{ label: trans.__('Retry'), onClick: props.onOpen }}
          />
        )}
        <ActionButton
          kind={folded ? 'plain' : 'accept'}
          className="jp-CodeLab-openButton"
          disabled={!model.canOpen}
          aria-busy={model.opening}
          onClick={props.onOpen}
        >
          {model.opening
            ? trans.__('Opening…')
            : folded
              ? trans.__('Open with this image')
              : trans.__('Open CodeLab')}
        </ActionButton>
      </div>
    </>
  );

  if (folded) {
    return (
      <section
        className="jp-CodeLab-section jp-CodeLab-fold"
        data-section="launch"
        aria-label={trans.__('Open another image')}
      >
        <button
          type="button"
          className="jp-CodeLab-foldSummary"
          aria-expanded={expanded}
          aria-controls="codelab-launch-fold"
          onClick={() => setExpanded(!expanded)}
        >
          <span className="jp-CodeLab-foldMark" aria-hidden="true">
            {expanded ? '▾' : '▸'}
          </span>
          {trans.__('Open another image')}
        </button>
        {expanded && (
          <div className="jp-CodeLab-foldBody" id="codelab-launch-fold">
            {body}
          </div>
        )}
      </section>
    );
  }
  return (
    <Section id="launch" title={trans.__('Open CodeLab')}>
      {body}
    </Section>
  );
}
