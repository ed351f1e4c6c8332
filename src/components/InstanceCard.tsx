import { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';

import { hoursLabel, statusLabel } from '../labels';
import { PanelState } from '../layout';
import { formatCountdown, imageLabel } from '../logic';
import { CodeLabModel } from '../model';
import { LeaseTimer } from './LeaseCountdown';
import { stepLabel } from './ProgressSteps';
import { ActionButton, ErrorLine, Section } from './Section';
import { Ticking } from './Ticking';
import { useModel } from './useModel';

function statusTone(state: PanelState): string {
  switch (state) {
    case 'running':
      return 'ok';
    case 'failed':
      return 'error';
    case 'stopping':
      return 'busy';
    default:
      return 'idle';
  }
}

/**
 * The instance when it is not starting: running (countdown, Open, Extend,
 * Stop), stopping, stopped or failed (the reason, Start).
 */
export function InstanceCard(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  state: PanelState;
  onExtend: (hours: number) => void;
  onStop: () => void;
  onStart: () => void;
}): JSX.Element | null {
  const { model, trans, state } = props;
  useModel(model);
  const [hours, setHours] = useState(1);
  const instance = model.instance;
  if (!instance) {
    return null;
  }
  const busy = model.busy;
  const running = state === 'running';
  const failedStep = model.steps.find(s => s.state === 'failed');

  let headline: string;
  switch (state) {
    case 'running':
      headline = trans.__('Your CodeLab instance is running.');
      break;
    case 'stopping':
      headline = trans.__('The instance is stopping…');
      break;
    case 'failed':
      headline = failedStep
        ? trans.__(
            'The instance did not start: step %1 (%2) failed.',
            failedStep.step,
            stepLabel(failedStep.step, trans)
          )
        : trans.__('The instance did not start.');
      break;
    default:
      headline = trans.__(
        'The instance is stopped. Its saved files are kept; start it again to continue.'
      );
  }

  return (
    <Section
      id="instance"
      title={trans.__('CodeLab instance')}
      className={`jp-CodeLab-instance jp-mod-${state}`}
    >
      <Ticking model={model}>
        {() => {
          const left = running ? model.remainingMs : null;
          return (
            <>
              <p className="jp-CodeLab-headline">
                <span
                  className={`jp-CodeLab-status jp-mod-${statusTone(state)}`}
                  data-status={instance.status}
                >
                  {statusLabel(trans, instance.status)}
                </span>
                {left !== null && (
                  <LeaseTimer
                    model={model}
                    className="jp-CodeLab-countdown"
                    title={trans.__(
                      'Free instances stop when their lease ends; extend it to keep working.'
                    )}
                  >
                    {formatCountdown(left)}
                  </LeaseTimer>
                )}
              </p>
              {left !== null && model.expiring && (
                <p className="jp-CodeLab-warning" role="status">
                  {trans.__(
                    'This instance stops in %1. Extend it to keep working.',
                    formatCountdown(left)
                  )}
                </p>
              )}
            </>
          );
        }}
      </Ticking>
      <p className="jp-CodeLab-summary">{headline}</p>
      {state === 'failed' && (
        <ErrorLine
          message={
            instance.fail_reason ||
            trans.__('ModelArts gave no reason (status %1).', instance.status)
          }
        />
      )}
      <div className="jp-CodeLab-actions">
        {running && instance.url && (
          <a
            className="jp-CodeLab-button jp-mod-styled jp-mod-accept"
            href={instance.url}
            target="_blank"
            rel="noopener noreferrer"
          >
            {trans.__('Open CodeLab')}
          </a>
        )}
        {(state === 'stopped' || state === 'failed') && (
          <ActionButton
            kind="accept"
            disabled={busy !== null}
            onClick={props.onStart}
          >
            {busy === 'start' ? trans.__('Starting…') : trans.__('Start')}
          </ActionButton>
        )}
        {(running || state === 'failed') && (
          <ActionButton
            kind="warn"
            disabled={busy !== null}
            onClick={props.onStop}
          >
            {busy === 'stop' ? trans.__('Stopping…') : trans.__('Stop')}
          </ActionButton>
        )}
      </div>
      {running && (
        <div className="jp-CodeLab-extend">
          <label htmlFor="codelab-extend-hours">
            {trans.__('Keep running for')}
          </label>
          <select
            id="codelab-extend-hours"
            className="jp-mod-styled"
            value={hours}
            onChange={e => setHours(Number(e.target.value))}
          >
            {model.extendChoices.map(h => (
              <option key={h} value={h}>
                {hoursLabel(trans, h)}
              </option>
            ))}
          </select>
          <ActionButton
            disabled={busy !== null}
            onClick={() => props.onExtend(hours)}
          >
            {busy === 'extend' ? trans.__('Extending…') : trans.__('Extend')}
          </ActionButton>
        </div>
      )}
      {model.actionError && <ErrorLine message={model.actionError} />}
      <dl className="jp-CodeLab-facts">
        <dt>{trans.__('Image')}</dt>
        <dd className="jp-CodeLab-wrap">{imageLabel(instance.image) || '—'}</dd>
        <dt>{trans.__('Flavor')}</dt>
        <dd className="jp-CodeLab-wrap">{instance.flavor || '—'}</dd>
        <dt>{trans.__('Name')}</dt>
        <dd className="jp-CodeLab-wrap">{instance.name || instance.id}</dd>
        {model.sentShareUrl && (
          <>
            <dt>{trans.__('Notebook')}</dt>
            <dd className="jp-CodeLab-wrap">{model.sentShareUrl}</dd>
          </>
        )}
      </dl>
      {running && model.connection === 'polling' && (
        <p className="jp-CodeLab-hint" data-connection={model.connection}>
          {trans.__('Reconnecting… (checking every few seconds)')}
          {model.streamError ? ` · ${model.streamError}` : ''}
        </p>
      )}
    </Section>
  );
}
