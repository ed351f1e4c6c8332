import { TranslationBundle } from '@jupyterlab/translation';
import React, { useState } from 'react';

import { EXTEND_HOURS, formatCountdown, imageLabel } from '../logic';
import { CodeLabModel } from '../model';
import { FAILED_STATUSES, TRANSITIONAL_STATUSES } from '../tokens';
import { ErrorLine, Section } from './Section';
import { Ticking } from './Ticking';
import { useModel } from './useModel';

function statusTone(status: string): string {
  if (status === 'RUNNING') {
    return 'ok';
  }
  if (FAILED_STATUSES.has(status)) {
    return 'error';
  }
  if (TRANSITIONAL_STATUSES.has(status)) {
    return 'busy';
  }
  return 'idle';
}

/** Status, image, flavor, lease countdown; Extend, Stop, Start, Open in new tab. */
export function InstanceCard(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
  onExtend: (hours: number) => void;
  onStop: () => void;
}): JSX.Element | null {
  const { model, trans } = props;
  useModel(model);
  const [hours, setHours] = useState(1);
  const instance = model.instance;
  if (!instance) {
    return null;
  }
  const remaining = model.remainingMs;
  const expiring = model.expiring;
  const busy = model.busy;
  const live =
    model.connection === 'live'
      ? trans.__('Live updates')
      : model.connection === 'polling'
        ? trans.__('Reconnecting… (checking every few seconds)')
        : model.connection === 'connecting'
          ? trans.__('Connecting…')
          : '';

  return (
    <Section id="instance" title={trans.__('Instance')}>
      <dl className="jp-CodeLab-facts">
        <dt>{trans.__('Status')}</dt>
        <dd>
          <span
            className={`jp-CodeLab-status jp-mod-${statusTone(instance.status)}`}
            data-status={instance.status}
          >
            {instance.status}
          </span>
        </dd>
        <dt>{trans.__('Name')}</dt>
        <dd>{instance.name || instance.id}</dd>
        <dt>{trans.__('Image')}</dt>
        <dd className="jp-CodeLab-wrap">{imageLabel(instance.image) || '—'}</dd>
        <dt>{trans.__('Flavor')}</dt>
        <dd className="jp-CodeLab-wrap">{instance.flavor || '—'}</dd>
        {remaining !== null && (
          <>
            <dt>{trans.__('Stops in')}</dt>
            <dd>
              <span
                className={`jp-CodeLab-countdown${expiring ? ' jp-mod-warning' : ''}`}
                role="timer"
                aria-live="off"
                title={trans.__(
                  'Free instances stop when their lease ends; extend it to keep working.'
                )}
              >
                <Ticking model={model}>
                  {() => formatCountdown(model.remainingMs ?? 0)}
                </Ticking>
              </span>
            </dd>
          </>
        )}
      </dl>
      {expiring && remaining !== null && (
        <p className="jp-CodeLab-warning" role="status">
          <Ticking model={model}>
            {() =>
              trans.__(
                'This instance stops in %1. Extend it to keep working.',
                formatCountdown(model.remainingMs ?? 0)
              )
            }
          </Ticking>
        </p>
      )}
      {model.sentShareUrl && (
        <p className="jp-CodeLab-hint jp-CodeLab-wrap">
          {trans.__('Shared notebook: %1', model.sentShareUrl)}
        </p>
      )}
      {model.isRunning && (
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
            {EXTEND_HOURS.map(h => (
              <option key={h} value={h}>
                {trans._n('%1 hour', '%1 hours', h)}
              </option>
            ))}
          </select>
          <button
            type="button"
            className="jp-CodeLab-button jp-mod-styled"
            disabled={busy !== null}
            onClick={() => props.onExtend(hours)}
          >
            {busy === 'extend' ? trans.__('Extending…') : trans.__('Extend')}
          </button>
        </div>
      )}
      <div className="jp-CodeLab-actions">
        {model.isRunning && instance.url && (
          <a
            className="jp-CodeLab-button jp-mod-styled jp-mod-accept"
            href={instance.url}
            target="_blank"
            rel="noopener noreferrer"
          >
            {trans.__('Open in new tab')}
          </a>
        )}
        {instance.status === 'STOPPED' && (
          <button
            type="button"
            className="jp-CodeLab-button jp-mod-styled jp-mod-accept"
            disabled={busy !== null}
            onClick={() => void model.start()}
          >
            {busy === 'start' ? trans.__('Starting…') : trans.__('Start')}
          </button>
        )}
        {(model.isRunning ||
          (model.isTransitional && instance.status !== 'STOPPING')) && (
          <button
            type="button"
            className="jp-CodeLab-button jp-mod-styled jp-mod-warn"
            disabled={busy !== null}
            onClick={props.onStop}
          >
            {busy === 'stop' ? trans.__('Stopping…') : trans.__('Stop')}
          </button>
        )}
      </div>
      {model.actionError && <ErrorLine message={model.actionError} />}
      {live && (
        <p
          className="jp-CodeLab-hint jp-CodeLab-live"
          data-connection={model.connection}
        >
          {live}
          {model.streamError ? ` · ${model.streamError}` : ''}
        </p>
      )}
    </Section>
  );
}
