"""Test doubles for the Qt widgets of Slicer's Python (``qt``, ``ctk`` and the ``qMRML`` widget classes).

Slicer's widgets are PythonQt wrappers of C++ classes that exist only inside the Slicer application. The
parameter-node wrapper (Slicer's own source, vendored in ``Testing/vendor``) and the CerebroLib panels run for
real against these doubles: each class keeps its Qt name (the wrapper's GUI connectors compare ``type(widget)``
with the class they accept), its properties as attributes, and its signals, connected either way PythonQt allows
(``widget.connect("clicked(bool)", slot)`` or ``widget.clicked.connect(slot)``). :func:`load_ui` builds the
widget tree of a Qt Designer ``.ui`` file, as ``slicer.util.loadUI`` does.

Only what the wrapper and the panels use is modelled; any other attribute is an AttributeError, so a panel
calling something new fails here instead of passing silently.
"""

from __future__ import annotations

import inspect
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any


class Signal:
    """A Qt signal: connected slots are called by :meth:`emit` unless the widget blocks its signals."""

    def __init__(self, owner: QObject) -> None:
        self.owner = owner
        self.slots: list[Any] = []

    def connect(self, slot: Any) -> None:
        self.slots.append(slot)

    def disconnect(self, slot: Any) -> None:
        self.slots.remove(slot)

    def emit(self, *args: Any) -> None:
        """Call the slots; as PythonQt does, a slot taking fewer arguments than the signal gets the first ones."""
        if not self.owner._signalsBlocked:
            for slot in list(self.slots):
                slot(*args[:_accepted_arguments(slot, len(args))])


def _accepted_arguments(slot: Any, offered: int) -> int:
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        return offered
    if any(p.kind is p.VAR_POSITIONAL for p in parameters):
        return offered
    return min(offered, sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters))


class Notifying:
    """A widget property whose setter emits the widget's signal ``signal`` with the new value when it changes."""

    def __init__(self, signal: str, default: Any = "") -> None:
        self.signal, self.default = signal, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = f"_{name}"

    def __get__(self, widget: Any, owner: type) -> Any:
        return self if widget is None else widget.__dict__.get(self.attribute, self.default)

    def __set__(self, widget: Any, value: Any) -> None:
        if value != self.__get__(widget, type(widget)):
            widget.__dict__[self.attribute] = value
            getattr(widget, self.signal).emit(value)


class QObject:
    """The parts of QObject the panels and the wrapper use: properties, children, signals."""

    SIGNALS: tuple[str, ...] = ("destroyed",)

    def __init__(self, parent: QObject | None = None, objectName: str = "") -> None:
        self.__dict__["_signals"] = {}
        self._signalsBlocked = False
        self._properties: dict[str, Any] = {}
        self._children: list[QObject] = []
        self._parent = parent
        self.objectName = objectName
        if parent is not None:
            parent._children.append(self)

    @classmethod
    def _signalNames(cls) -> set[str]:
        return {name for klass in cls.__mro__ for name in getattr(klass, "SIGNALS", ())}

    def __getattr__(self, name: str) -> Any:
        if name in type(self)._signalNames():
            return self._signals.setdefault(name, Signal(self))
        raise AttributeError(f"{type(self).__name__} double has no attribute {name!r}")

    def signal(self, name: str) -> Signal:
        """The signal called ``name`` (also ``"name(args)"``, as in ``connect``)."""
        return getattr(self, name.split("(")[0])

    def connect(self, signal: str, slot: Any) -> bool:
        self.signal(signal).connect(slot)
        return True

    def disconnect(self, signal: str, slot: Any) -> bool:
        self.signal(signal).disconnect(slot)
        return True

    def blockSignals(self, block: bool) -> bool:
        was, self._signalsBlocked = self._signalsBlocked, bool(block)
        return was

    def signalsBlocked(self) -> bool:
        return self._signalsBlocked

    def property(self, name: str) -> Any:
        return self._properties.get(name)

    def setProperty(self, name: str, value: Any) -> bool:
        self._properties[name] = value
        return True

    def parent(self) -> QObject | None:
        return self._parent

    def findChildren(self, kind: type = None) -> list[QObject]:
        found = []
        for child in self._children:
            if kind is None or isinstance(child, kind):
                found.append(child)
            found += child.findChildren(kind)
        return found


class QWidget(QObject):
    def __init__(self, parent: QObject | None = None, objectName: str = "") -> None:
        super().__init__(parent, objectName)
        self.visible = True
        self.enabled = True
        self.toolTip = ""
        self._layout: Any = None

    def isWidgetType(self) -> bool:
        return True

    def layout(self) -> Any:
        return self._layout

    def setLayout(self, layout: Any) -> None:
        self._layout = layout

    def setMRMLScene(self, scene: Any) -> None:
        self.mrmlScene = scene


class QFormLayout:
    """A form layout: rows of (label, field)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.rows: list[tuple[Any, Any]] = []
        if parent is not None:
            parent.setLayout(self)

    def addRow(self, label: Any, field: Any = None) -> None:
        self.rows.append((label, field))

    def rowCount(self) -> int:
        return len(self.rows)

    def removeRow(self, row: int) -> None:
        del self.rows[row]


class QVBoxLayout(QFormLayout):
    def addWidget(self, widget: Any) -> None:
        self.rows.append((None, widget))


class QLabel(QWidget):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.text = ""
        self.wordWrap = False


class QAbstractButton(QWidget):
    SIGNALS = ("clicked", "toggled", "pressed", "released", "stateChanged")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.text = ""
        self.checkable = False
        self._checked = False

    @property
    def checked(self) -> bool:
        return self._checked

    @checked.setter
    def checked(self, value: bool) -> None:
        if bool(value) != self._checked:
            self._checked = bool(value)
            self.toggled.emit(self._checked)
            self.stateChanged.emit(2 if self._checked else 0)

    def click(self) -> None:
        if self.checkable:
            self.checked = not self.checked
        self.clicked.emit(self.checked)


class QPushButton(QAbstractButton):
    pass


class QCheckBox(QAbstractButton):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.checkable = True


class _Range(QWidget):
    """What spin boxes and sliders share: value in [minimum, maximum], valueChanged."""

    SIGNALS = ("valueChanged", "editingFinished")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.minimum, self.maximum, self.singleStep, self.decimals = 0, 99, 1, 2
        self._value = 0

    @property
    def value(self) -> Any:
        return self._value

    @value.setter
    def value(self, value: Any) -> None:
        value = min(max(value, self.minimum), self.maximum)
        if value != self._value:
            self._value = value
            self.valueChanged.emit(value)

    def setRange(self, minimum: Any, maximum: Any) -> None:
        self.minimum, self.maximum = minimum, maximum

    def setMinimum(self, minimum: Any) -> None:
        self.minimum = minimum

    def setMaximum(self, maximum: Any) -> None:
        self.maximum = maximum


class QSpinBox(_Range):
    pass


class QSlider(_Range):
    pass


class QDoubleSpinBox(_Range):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.maximum, self._value = 99.99, 0.0


class QProgressBar(_Range):
    pass


class QLineEdit(QWidget):
    SIGNALS = ("textChanged", "editingFinished", "returnPressed")

    text = Notifying("textChanged")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.placeholderText = ""


class QTextEdit(QWidget):
    SIGNALS = ("textChanged",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plainText = ""
        self.readOnly = False

    def toPlainText(self) -> str:
        return self._plainText

    def setPlainText(self, text: str) -> None:
        self._plainText = text
        self.textChanged.emit()

    @property
    def plainText(self) -> str:
        return self._plainText

    @plainText.setter
    def plainText(self, text: str) -> None:
        self.setPlainText(text)


class QPlainTextEdit(QTextEdit):
    pass


class QComboBox(QWidget):
    SIGNALS = ("currentIndexChanged", "currentTextChanged", "activated")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._items: list[list[Any]] = []  # [text, data]
        self._current = -1

    @property
    def count(self) -> int:
        return len(self._items)

    @property
    def currentIndex(self) -> int:
        return self._current

    @property
    def currentText(self) -> str:
        return self._items[self._current][0] if self._current >= 0 else ""

    def addItem(self, text: str, data: Any = None) -> None:
        self._items.append([text, data])
        if self._current < 0:
            self.setCurrentIndex(0)

    def addItems(self, texts: list[str]) -> None:
        for text in texts:
            self.addItem(text)

    def clear(self) -> None:
        self._items.clear()
        self.setCurrentIndex(-1)

    def itemText(self, index: int) -> str:
        return self._items[index][0] if 0 <= index < len(self._items) else ""

    def itemData(self, index: int) -> Any:
        return self._items[index][1] if 0 <= index < len(self._items) else None

    def setItemText(self, index: int, text: str) -> None:
        self._items[index][0] = text

    def findText(self, text: str) -> int:
        return next((i for i, item in enumerate(self._items) if item[0] == text), -1)

    def findData(self, data: Any) -> int:
        return next((i for i, item in enumerate(self._items) if item[1] == data), -1)

    def setCurrentIndex(self, index: int) -> None:
        index = index if 0 <= index < len(self._items) else -1
        if index != self._current:
            self._current = index
            self.currentIndexChanged.emit(index)
            self.currentTextChanged.emit(self.currentText)

    def setCurrentText(self, text: str) -> None:
        self.setCurrentIndex(self.findText(text))


class QListWidgetItem:
    def __init__(self, text: str = "") -> None:
        self.text, self._data, self._flags, self._check, self.toolTip = text, {}, 0, 0, ""

    def setData(self, role: int, value: Any) -> None:
        self._data[role] = value

    def data(self, role: int) -> Any:
        return self._data.get(role)

    def setToolTip(self, text: str) -> None:
        self.toolTip = text

    def flags(self) -> int:
        return self._flags

    def setFlags(self, flags: int) -> None:
        self._flags = flags

    def checkState(self) -> int:
        return self._check

    def setCheckState(self, state: int) -> None:
        self._check = state


class QListWidget(QWidget):
    SIGNALS = ("itemChanged", "currentRowChanged")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rows: list[QListWidgetItem] = []

    @property
    def count(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    def addItem(self, item: QListWidgetItem) -> None:
        self._rows.append(item)

    def item(self, row: int) -> QListWidgetItem:
        return self._rows[row]


class QTimer(QObject):
    SIGNALS = ("timeout",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.active, self.interval = False, 0

    def setInterval(self, milliseconds: int) -> None:
        self.interval = milliseconds

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def isActive(self) -> bool:
        return self.active


class Qt:
    UserRole = 256
    Unchecked, Checked = 0, 2
    ItemIsUserCheckable = 16
    WaitCursor = 3


class QApplication:
    """The application's override cursor (a stack), as ``slicer.util.WaitCursor`` uses it."""

    cursors: list[Any] = []

    @classmethod
    def setOverrideCursor(cls, cursor: Any) -> None:
        cls.cursors.append(cursor)

    @classmethod
    def restoreOverrideCursor(cls) -> None:
        cls.cursors.pop()


class QModelIndex:
    def row(self) -> int:
        return -1


class QTableView(QWidget):
    SIGNALS = ("doubleClicked", "clicked")

    def currentIndex(self) -> QModelIndex:
        return QModelIndex()


class ctkCollapsibleButton(QAbstractButton):
    pass


class ctkCheckBox(QCheckBox):
    pass


class ctkDoubleSpinBox(QDoubleSpinBox):
    pass


class ctkSliderWidget(QDoubleSpinBox):
    pass


class ctkComboBox(QComboBox):
    pass


class ctkRangeWidget(QWidget):
    pass


class ctkDirectoryButton(QWidget):
    SIGNALS = ("directoryChanged",)


class ctkPathLineEdit(QWidget):
    """A path field with a browse button; which dialog the button opens follows ``filters``."""

    SIGNALS = ("currentPathChanged", "validInputChanged")
    Dirs, Files, Drives, NoDot, NoDotDot, Readable, Writable, Executable = 1, 2, 4, 8, 16, 32, 64, 128

    currentPath = Notifying("currentPathChanged")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters = self.Files | self.Dirs | self.Drives  # ctkPathLineEdit's default
        self.nameFilters: list[str] = []


class qMRMLWidget(QWidget):
    pass


class qSlicerWidget(QWidget):
    pass


class qMRMLNodeComboBox(QWidget):
    SIGNALS = ("currentNodeChanged", "currentNodeIDChanged", "nodeAdded")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodeTypes: list[str] = []
        self._node: Any = None

    def currentNode(self) -> Any:
        return self._node

    def setCurrentNode(self, node: Any) -> None:
        if node is not self._node:
            self._node = node
            self.currentNodeChanged.emit(node)


class qMRMLSliderWidget(ctkSliderWidget):
    pass


class qMRMLTableView(QTableView):
    def setMRMLTableNode(self, node: Any) -> None:
        self.tableNode = node


QT_CLASSES = (QObject, QWidget, QFormLayout, QVBoxLayout, QLabel, QPushButton, QCheckBox, QSpinBox, QSlider,
              QDoubleSpinBox, QProgressBar, QLineEdit, QTextEdit, QPlainTextEdit, QComboBox, QListWidget,
              QListWidgetItem, QTimer, Qt, QApplication, QTableView, QModelIndex)
CTK_CLASSES = (ctkCollapsibleButton, ctkCheckBox, ctkDoubleSpinBox, ctkSliderWidget, ctkComboBox, ctkRangeWidget,
               ctkDirectoryButton, ctkPathLineEdit)
SLICER_WIDGET_CLASSES = (qMRMLWidget, qSlicerWidget, qMRMLNodeComboBox, qMRMLSliderWidget, qMRMLTableView)


def _module(name: str, classes: tuple[type, ...]) -> types.ModuleType:
    module = types.ModuleType(name)
    for klass in classes:
        setattr(module, klass.__name__, klass)
    return module


# One module object each for the whole test session, so code that imported ``qt`` once keeps seeing the same one.
qt = _module("qt", QT_CLASSES)
ctk = _module("ctk", CTK_CLASSES)
WIDGET_CLASSES = {klass.__name__: klass for klass in QT_CLASSES + CTK_CLASSES + SLICER_WIDGET_CLASSES}


def _property_value(element: ET.Element) -> Any:
    """The value of a .ui ``<property>`` (string, bool, number, or None for kinds not modelled)."""
    value = next(iter(element), None)
    if value is None:
        return None
    if value.tag == "string":
        return value.text or ""
    if value.tag == "bool":
        return value.text == "true"
    if value.tag in ("number", "double"):
        return float(value.text) if value.tag == "double" else int(value.text)
    return None


# .ui properties that are plain attributes of the doubles (others are kept as Qt dynamic properties).
_ATTRIBUTES = ("text", "checked", "checkable", "minimum", "maximum", "decimals", "singleStep", "value", "toolTip",
               "placeholderText", "readOnly")


def _build(element: ET.Element, parent: QObject | None, widgets: dict[str, QObject]) -> None:
    """Make the widget of ``element`` (a ``<widget>``) under ``parent``, then its children, in document order."""
    klass = WIDGET_CLASSES.get(element.get("class", ""), QWidget)
    widget = klass(parent, element.get("name", ""))
    widgets[widget.objectName] = widget
    for child in element:
        if child.tag == "property":
            value = _property_value(child)
            name = child.get("name")
            if name in _ATTRIBUTES and value is not None:
                setattr(widget, name, value)
            elif child.get("stdset") == "0":
                widget.setProperty(name, value)
    for child in element.iter():
        if child is element or child.tag != "widget":
            continue
        # direct widget descendants only (through layouts and items); deeper ones are built by their parent
        if _owner(element, child) is element:
            _build(child, widget, widgets)
    if isinstance(widget, QWidget) and widget.layout() is None:
        layouts = [c for c in element if c.tag == "layout"]
        if layouts and layouts[0].get("class") == "QFormLayout":
            QFormLayout(widget)


def _owner(root: ET.Element, target: ET.Element) -> ET.Element | None:
    """The nearest ``<widget>`` ancestor of ``target`` inside ``root``."""
    parents = {child: parent for parent in root.iter() for child in parent}
    node = parents.get(target)
    while node is not None and node.tag != "widget":
        node = parents.get(node)
    return node


def load_ui(path: str | Path) -> QWidget:
    """The top-level widget of the Qt Designer file ``path`` with its children (as ``slicer.util.loadUI``)."""
    root = ET.parse(path).getroot().find("widget")
    widgets: dict[str, QObject] = {}
    _build(root, None, widgets)
    return widgets[root.get("name", "")]


def child_widget_variables(widget: QWidget) -> types.SimpleNamespace:
    """Every named child of ``widget`` as an attribute (as ``slicer.util.childWidgetVariables``)."""
    return types.SimpleNamespace(**{child.objectName: child for child in widget.findChildren()
                                    if child.objectName})
