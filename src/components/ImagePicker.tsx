import { TranslationBundle } from '@jupyterlab/translation';
import React, { useEffect, useRef, useState } from 'react';

import {
  archLabel,
  groupImages,
  ImageCategory,
  imageLabel,
  offersSsh
} from '../logic';
import { CodeLabModel } from '../model';
import { ErrorLine } from './Section';
import { useModel } from './useModel';

export function categoryLabel(
  category: ImageCategory,
  trans: TranslationBundle
): string {
  switch (category) {
    case 'CPU':
      return trans.__('CPU');
    case 'GPU':
      return trans.__('GPU');
    case 'ASCEND':
      return trans.__('Ascend');
  }
}

/**
 * Searchable image list grouped CPU / GPU / Ascend, default image first.
 * The list grows with the panel (no scroller of its own); the chosen image is
 * scrolled into view when it is chosen from elsewhere (a deep link, a setting).
 */
export function ImagePicker(props: {
  model: CodeLabModel;
  trans: TranslationBundle;
}): JSX.Element {
  const { model, trans } = props;
  useModel(model);
  const [search, setSearch] = useState('');
  const listRef = useRef<HTMLDivElement>(null);
  const selected = model.selectedImageId;
  const defaultId = model.defaultImageId;
  const groups = groupImages(model.images, search, defaultId);

  useEffect(() => {
    if (!selected || !listRef.current) {
      return;
    }
    const node = listRef.current.querySelector(
      `[data-image-id="${CSS.escape(selected)}"]`
    );
    // 'nearest' moves nothing when the image is already visible
    node?.scrollIntoView?.({ block: 'nearest' });
  }, [selected, groups.length > 0]);

  let list: JSX.Element;
  if (model.imagesError) {
    list = (
      <ErrorLine
        message={model.imagesError}
        action={{
          label: trans.__('Retry'),
          onClick: () => void model.refresh()
        }}
      />
    );
  } else if (model.imagesLoading && !model.images.length) {
    list = (
      <p className="jp-CodeLab-hint" aria-busy="true">
        {trans.__('Loading images…')}
      </p>
    );
  } else if (!groups.length) {
    list = (
      <p className="jp-CodeLab-hint" role="status">
        {model.images.length
          ? trans.__('No image matches “%1”.', search)
          : trans.__('No image available.')}
      </p>
    );
  } else {
    list = (
      <div className="jp-CodeLab-imageList" ref={listRef}>
        {groups.map(group => (
          <fieldset key={group.category} className="jp-CodeLab-imageGroup">
            <legend>
              {categoryLabel(group.category, trans)}
              <span className="jp-CodeLab-count">{group.images.length}</span>
            </legend>
            {group.images.map(image => {
              const arch = archLabel(image.arch);
              const isSelected = image.id === selected;
              return (
                <label
                  key={image.id}
                  className={`jp-CodeLab-image${isSelected ? ' jp-mod-selected' : ''}`}
                  title={image.description ?? undefined}
                  data-image-id={image.id}
                >
                  <input
                    type="radio"
                    name="codelab-image"
                    value={image.id}
                    checked={isSelected}
                    onChange={() => model.selectImage(image.id)}
                  />
                  <span className="jp-CodeLab-imageText">
                    <span className="jp-CodeLab-imageName">{image.name}</span>
                    {image.tag && (
                      <span className="jp-CodeLab-imageTag">{image.tag}</span>
                    )}
                    <span className="jp-CodeLab-badges">
                      {image.id === defaultId && (
                        <span className="jp-CodeLab-badge jp-CodeLab-badge-default">
                          {trans.__('default')}
                        </span>
                      )}
                      {arch && <span className="jp-CodeLab-badge">{arch}</span>}
                      {offersSsh(image) && (
                        <span
                          className="jp-CodeLab-badge jp-CodeLab-badge-ssh"
                          title={trans.__('Reachable over SSH')}
                        >
                          SSH
                        </span>
                      )}
                    </span>
                  </span>
                </label>
              );
            })}
          </fieldset>
        ))}
      </div>
    );
  }

  return (
    <div className="jp-CodeLab-picker">
      <input
        type="search"
        className="jp-mod-styled jp-CodeLab-search"
        placeholder={trans.__('Search: name, framework, arch, SSH…')}
        aria-label={trans.__('Search images')}
        value={search}
        onChange={e => setSearch(e.target.value)}
      />
      {list}
      {model.selectedImage && (
        <span className="jp-CodeLab-visuallyHidden" aria-live="polite">
          {trans.__('Selected: %1', imageLabel(model.selectedImage))}
        </span>
      )}
    </div>
  );
}
