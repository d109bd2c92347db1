"""Language codes: how a tag a person, a site or a feed gives (``en-US``, ``de_DE``, ``EN``) becomes the code a
talk is stored, filtered and transcribed by (``en``, ``de``: ISO 639-1, as whisper names languages)."""

from __future__ import annotations

import re
from collections.abc import Iterable

LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})*$")  # BCP 47-like: a code, then subtags


# Codes ISO 639 has retired, or spells otherwise than whisper, that sources still send (Java and Android say
# ``iw`` for Hebrew): the talk is stored, filtered and transcribed as whisper names its language.
ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jv": "jw", "mo": "ro", "nb": "no"}


def base_language(tag: str | None) -> str | None:
    """``en-US``, ``en_GB`` and YouTube's ``en-orig`` are all ``en``; ``iw-IL`` is ``he``."""
    if not tag:
        return None
    code = tag.replace("_", "-").split("-")[0].lower()
    return ALIASES.get(code, code)


def _whisper_codes() -> frozenset[str]:
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # the list WhisperModel.supported_languages gives

    return frozenset(_LANGUAGE_CODES)


def _three_letter_table(rows: str) -> dict[str, str]:
    """``deu/ger=de ...``: each three-letter code to its two-letter one."""
    table = {}
    for row in rows.split():
        threes, two = row.split("=")
        table.update(dict.fromkeys(threes.split("/"), two))
    return table


# ISO 639-2's three-letter codes, terminology and bibliographic (``deu``/``ger``: what Plex, Jellyfin and mkvextract
# name caption files by, and some feeds send), of the languages ISO 639-1 names too: from Debian's iso-codes 4.15,
# iso_639-2.json (alpha_3/bibliographic=alpha_2).
ISO_639_2 = _three_letter_table("""
aar=aa abk=ab afr=af aka=ak amh=am ara=ar arg=an asm=as ava=av ave=ae aym=ay aze=az bak=ba bam=bm bel=be ben=bn
bih=bh bis=bi bod/tib=bo bos=bs bre=br bul=bg cat=ca ces/cze=cs cha=ch che=ce chu=cu chv=cv cor=kw cos=co cre=cr
cym/wel=cy dan=da deu/ger=de div=dv dzo=dz ell/gre=el eng=en epo=eo est=et eus/baq=eu ewe=ee fao=fo fas/per=fa
fij=fj fin=fi fra/fre=fr fry=fy ful=ff gla=gd gle=ga glg=gl glv=gv grn=gn guj=gu hat=ht hau=ha heb=he her=hz hin=hi
hmo=ho hrv=hr hun=hu hye/arm=hy ibo=ig ido=io iii=ii iku=iu ile=ie ina=ia ind=id ipk=ik isl/ice=is ita=it jav=jv
jpn=ja kal=kl kan=kn kas=ks kat/geo=ka kau=kr kaz=kk khm=km kik=ki kin=rw kir=ky kom=kv kon=kg kor=ko kua=kj kur=ku
lao=lo lat=la lav=lv lim=li lin=ln lit=lt ltz=lb lub=lu lug=lg mah=mh mal=ml mar=mr mkd/mac=mk mlg=mg mlt=mt mon=mn
mri/mao=mi msa/may=ms mya/bur=my nau=na nav=nv nbl=nr nde=nd ndo=ng nep=ne nld/dut=nl nno=nn nob=nb nor=no nya=ny
oci=oc oji=oj ori=or orm=om oss=os pan=pa pli=pi pol=pl por=pt pus=ps que=qu roh=rm ron/rum=ro run=rn rus=ru sag=sg
san=sa sin=si slk/slo=sk slv=sl sme=se smo=sm sna=sn snd=sd som=so sot=st spa=es sqi/alb=sq srd=sc srp=sr ssw=ss
sun=su swa=sw swe=sv tah=ty tam=ta tat=tt tel=te tgk=tg tgl=tl tha=th tir=ti ton=to tsn=tn tso=ts tuk=tk tur=tr
twi=tw uig=ug ukr=uk urd=ur uzb=uz ven=ve vie=vi vol=vo wln=wa wol=wo xho=xh yid=yi yor=yo zha=za zho/chi=zh zul=zu""")

# ISO 639-1: every two-letter language code.
ISO_639_1 = frozenset(ISO_639_2.values())


def _stored_codes() -> frozenset[str]:
    """The codes a talk's language is stored and filtered by: ISO 639-1's, and whisper's few three-letter ones
    (haw, yue) for languages that have no two-letter code."""
    return ISO_639_1 | _whisper_codes()


def language_code(tag: str | None) -> str | None:
    """The code a language tag is stored as: ``de-DE``, ``deu`` and ``ger`` are all ``de``; None when ``tag`` is no
    tag of a known language (``zz``, ``Deutsch``)."""
    code = base_language(tag) if tag and LANGUAGE_TAG.match(tag) else None
    code = ISO_639_2.get(code, code)
    code = ALIASES.get(code, code)  # jav is jv, which whisper names jw
    return code if code in _stored_codes() else None


def _name_table(rows: str) -> dict[str, str]:
    """``de=german haitian_creole=ht``: each code to its name, or each other name to its code (``_`` a space)."""
    return dict(row.replace("_", " ").split("=") for row in rows.split())


# Whisper's English name of each of its languages (``LANGUAGES`` of the whisper tokenizer transformers 5.25 ships,
# in its order), and its other names for some (``TO_LANGUAGE_CODE``'s rest): written out here, because importing
# that module imports much of transformers, 3 s that the service's first page waited for its Language menu (a
# reviewer's hunt). tests/test_languages.py checks the copy against transformers' own tables.
WHISPER_LANGUAGE_NAMES = _name_table("""
en=english zh=chinese de=german es=spanish ru=russian ko=korean fr=french ja=japanese pt=portuguese tr=turkish
pl=polish ca=catalan nl=dutch ar=arabic sv=swedish it=italian id=indonesian hi=hindi fi=finnish vi=vietnamese
he=hebrew uk=ukrainian el=greek ms=malay cs=czech ro=romanian da=danish hu=hungarian ta=tamil no=norwegian th=thai
ur=urdu hr=croatian bg=bulgarian lt=lithuanian la=latin mi=maori ml=malayalam cy=welsh sk=slovak te=telugu
fa=persian lv=latvian bn=bengali sr=serbian az=azerbaijani sl=slovenian kn=kannada et=estonian mk=macedonian
br=breton eu=basque is=icelandic hy=armenian ne=nepali mn=mongolian bs=bosnian kk=kazakh sq=albanian sw=swahili
gl=galician mr=marathi pa=punjabi si=sinhala km=khmer sn=shona yo=yoruba so=somali af=afrikaans oc=occitan
ka=georgian be=belarusian tg=tajik sd=sindhi gu=gujarati am=amharic yi=yiddish lo=lao uz=uzbek fo=faroese
ht=haitian_creole ps=pashto tk=turkmen nn=nynorsk mt=maltese sa=sanskrit lb=luxembourgish my=myanmar bo=tibetan
tl=tagalog mg=malagasy as=assamese tt=tatar haw=hawaiian ln=lingala ha=hausa ba=bashkir jw=javanese su=sundanese
yue=cantonese""")

# Each name, and each other name, to its code (``german``, ``mandarin``, ``castilian``).
WHISPER_LANGUAGE_CODES = {name: code for code, name in WHISPER_LANGUAGE_NAMES.items()} | _name_table("""
burmese=my valencian=ca flemish=nl haitian=ht letzeburgesch=lb pushto=ps panjabi=pa moldavian=ro moldovan=ro
sinhalese=si castilian=es mandarin=zh""")


def language_label(code: str) -> str:
    """How a person reads a stored code: its English name with the code ("German (de)", "Haitian Creole (ht)"),
    or the bare code for a language whisper does not name."""
    name = WHISPER_LANGUAGE_NAMES.get(code)
    return f"{name.title()} ({code})" if name else code


def source_language(value: str | None) -> str | None:
    """The code what a source says its language is (yt-dlp's ``language``, a feed's ``<language>``, a caption
    track's or caption file's tag) is stored as: a tag (``de-DE``, ``deu``, ``ger``) or the English name whisper
    gives the language (``German``). None for anything else (``Deutsch``, ``zz``): never stored, so the talk's
    language is taken from elsewhere or detected, rather than offered by the Language menu and refused as a filter."""
    value = (value or "").strip()
    return (language_code(value) or WHISPER_LANGUAGE_CODES.get(value.lower())) if value else None


def filter_languages(values: Iterable[str]) -> list[str]:
    """Search filter values as stored codes; ValueError naming the first that is no language tag ("english"),
    no language's code ("qq") or a three-letter code talks are not stored by ("eng": stored codes are ISO
    639-1's two letters, but for the few languages that have only three, such as yue; the message names the
    two letters), rather than a filter that silently matches nothing."""
    codes = []
    for value in values:
        code = base_language(value) if LANGUAGE_TAG.match(value) else None
        if code is None or code not in _stored_codes():
            stored = language_code(value)  # "deu": say which code its talks are stored and filtered by
            hint = f"ISO 639-1 names it {stored}" if stored else "e.g. en, de, es"
            raise ValueError(f"{value!r} is not a language code ({hint})")
        codes.append(code)
    return codes


def whisper_code(tag: str | None) -> str | None:
    """The code whisper transcribes ``tag`` as (``de-DE``, ``deu``: ``de``), or None when whisper knows no such
    language ("English" is no tag, "zz" no language: the talk's language is then detected, not passed on for
    whisper to refuse)."""
    code = language_code(tag)
    return code if code in _whisper_codes() else None


def whisper_language(tag: str) -> str:
    """``whisper_code`` for a person's ``--language``: ValueError when whisper knows no such language, so that a
    mistyped one is refused before anything is downloaded, not once per talk."""
    code = whisper_code(tag)
    if code is None:
        raise ValueError(f"{tag!r} is not a language whisper knows (a code such as en, de, es, fr, zh)")
    return code
