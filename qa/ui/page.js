() => {
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a.cite-ref');
    if (!link) return;
    const target = (link.getAttribute('href') || '').split('#')[1] || '';
    if (!/^cite-\d+$/.test(target)) return;
    const card = document.getElementById(target);
    event.preventDefault();
    event.stopPropagation();
    if (!card) return;
    card.scrollIntoView({behavior: 'smooth', block: 'nearest'});
    card.classList.remove('flash');
    void card.offsetWidth;
    card.classList.add('flash');
    setTimeout(() => card.classList.remove('flash'), 1600);
  }, true);
}
