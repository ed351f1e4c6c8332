import { Button } from '@jupyterlab/ui-components';
import React from 'react';

/** A titled block of the sidebar. */
export function Section(props: {
  id: string;
  title: string;
  children: React.ReactNode;
  className?: string;
}): JSX.Element {
  const headingId = `codelab-section-${props.id}`;
  return (
    <section
      className={`jp-CodeLab-section ${props.className ?? ''}`.trim()}
      aria-labelledby={headingId}
      data-section={props.id}
    >
      <h3 className="jp-CodeLab-sectionTitle" id={headingId}>
        {props.title}
      </h3>
      {props.children}
    </section>
  );
}

/** How an action button looks: the main action, a destructive one, or a plain one. */
export type ActionKind = 'accept' | 'warn' | 'plain';

/** A button of the panel: JupyterLab's `Button` (ui-components) in the panel's style. */
export function ActionButton(
  props: {
    kind?: ActionKind;
    children: React.ReactNode;
  } & Omit<React.ButtonHTMLAttributes<HTMLButtonElement>, 'children'>
): JSX.Element {
  const { kind = 'plain', className, children, ...rest } = props;
  const mod = kind === 'plain' ? '' : ` jp-mod-${kind}`;
  return (
    <Button
      type="button"
      className={`jp-CodeLab-button jp-mod-styled${mod}${className ? ` ${className}` : ''}`}
      {...rest}
    >
      {children}
    </Button>
  );
}

/** A readable error line with an optional action. */
export function ErrorLine(props: {
  message: string;
  action?: { label: string; onClick: () => void };
}): JSX.Element {
  return (
    <div className="jp-CodeLab-error" role="alert">
      <span>{props.message}</span>
      {props.action && (
        <ActionButton onClick={props.action.onClick}>
          {props.action.label}
        </ActionButton>
      )}
    </div>
  );
}
