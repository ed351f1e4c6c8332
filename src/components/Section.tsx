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

/** A readable error line with an optional action. */
export function ErrorLine(props: {
  message: string;
  action?: { label: string; onClick: () => void };
}): JSX.Element {
  return (
    <div className="jp-CodeLab-error" role="alert">
      <span>{props.message}</span>
      {props.action && (
        <button
          type="button"
          className="jp-CodeLab-button jp-mod-styled"
          onClick={props.action.onClick}
        >
          {props.action.label}
        </button>
      )}
    </div>
  );
}
